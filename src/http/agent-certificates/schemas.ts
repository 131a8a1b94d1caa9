import { Type, type Static } from 'typebox';
import { statusOf, type AgentCertificateView, type CreatedAgentCertificate } from '../../registry/index.ts';

// MindConnect's auto-generated agent certificate (id, name, agentName, owner, agentId, clientId,
// privateKey, publicKey = the certificate PEM, status, credentials) plus the managed CA PEM, so
// the agent can send the chain, and fields that save a round trip through OpenSSL.
const Pem = (description: string) => Type.String({ description });
const NullablePem = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

export const AgentCertificateResource = Type.Object({
  id: Type.String({ description: '24 lowercase hex characters' }),
  name: Type.String({ description: 'The CN of the certificate' }),
  agentName: Type.String({ description: 'The same as name (MindConnect field)' }),
  owner: Type.Union([Type.String(), Type.Null()]),
  agentId: Type.Union([Type.String(), Type.Null()], { description: 'The id of the agent with this client id once it has connected (GET /agents/{id}), else null' }),
  clientId: Type.String({ description: 'The MQTT client id the agent must use: <tenant>_<name>' }),
  privateKey: NullablePem('The generated private key (PKCS#8 PEM): only in the answer to POST, only without csr; never stored, so keep it'),
  publicKey: Pem('The agent certificate, PEM (MindConnect calls it publicKey)'),
  status: Type.Union([Type.Literal('READY'), Type.Literal('REVOKED')], { description: 'READY until DELETE revokes it' }),
  credentials: Type.Object({
    certificatePem: Pem('The agent certificate, PEM'),
    privateKey: NullablePem('As privateKey'),
  }),
  caCertificate: Pem('The tenant\'s managed CA that issued it, PEM: append it to the certificate to send the chain'),
  caCertificateId: Type.String({ description: 'The managed CA\'s id, as agents show it in caCertificateId' }),
  expiration: Type.String({ description: 'notAfter, ISO 8601 UTC with milliseconds' }),
  notBefore: Type.String(),
  fingerprint: Type.String({ description: 'SHA-256 of the DER certificate, lowercase hex' }),
  serialNumber: Type.String({ description: 'Lowercase hex' }),
  keySource: Type.Union([Type.Literal('generated'), Type.Literal('csr')], { description: 'generated: trustgate made the key pair; csr: the key never left the device' }),
  createdAt: Type.String(),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
}, { $id: 'AgentCertificate' });

export type AgentCertificateResource = Static<typeof AgentCertificateResource>;

export const toAgentCertificateResource = (view: AgentCertificateView | CreatedAgentCertificate): AgentCertificateResource => {
  const { certificate } = view;
  const privateKey = 'privateKeyPem' in view ? view.privateKeyPem ?? null : null;
  return {
    id: certificate.id,
    name: certificate.name,
    agentName: certificate.name,
    owner: certificate.owner ?? null,
    agentId: view.agentId ?? null,
    clientId: certificate.clientId,
    privateKey,
    publicKey: certificate.certificatePem,
    status: statusOf(certificate),
    credentials: { certificatePem: certificate.certificatePem, privateKey },
    caCertificate: view.caCertificatePem,
    caCertificateId: certificate.managedCaId,
    expiration: certificate.notAfter.toISOString(),
    notBefore: certificate.notBefore.toISOString(),
    fingerprint: certificate.fingerprintSha256,
    serialNumber: certificate.serialNumber,
    keySource: certificate.keySource,
    createdAt: certificate.createdAt.toISOString(),
    revokedAt: certificate.revokedAt?.toISOString() ?? null,
  };
};

// The name's rules are the registry's, so every bad name gets agentCertificate.nameInvalid with how
// to fix it (the 64 KiB body limit bounds its length). Unknown fields are refused: a mistyped
// "CSR" must not quietly become a generated key.
export const CreateAgentCertificateBody = Type.Object({
  name: Type.String({ description: 'The agent\'s name and the certificate\'s CN: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit (no spaces, nothing outside ASCII, never trimmed; docs/cli.md, "Names")' }),
  owner: Type.Optional(Type.String({ maxLength: 256, description: 'Free text: who is responsible for the agent; surrounding white space is trimmed, and an owner of only white space is refused' })),
  csr: Type.Optional(Type.String({ maxLength: 65536, description: 'A PKCS#10 request (PEM) made with the device\'s key: that key is certified (CN = name, the CSR\'s subject is ignored) and no private key is generated or returned' })),
}, { additionalProperties: false });

export const RenewAgentCertificateBody = Type.Object({
  csr: Type.String({ maxLength: 65536, description: 'A PKCS#10 request (PEM) whose CN is the certificate\'s name, made with the agent\'s current key or a new one (welcome): that key is certified' }),
}, { additionalProperties: false });
