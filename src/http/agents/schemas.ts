import { Type, type Static } from 'typebox';
import type { AgentRecord, Diagnosis } from '../../registry/index.ts';

export const AgentResource = Type.Object({
  id: Type.String(),
  clientId: Type.String({ description: '<tenant>_<CN of the agent certificate>' }),
  commonName: Type.String(),
  caCertificateId: Type.String({ description: 'The CA certificate that issued the certificate of its last connection' }),
  certificateFingerprint: Type.String({ description: 'SHA-256 of the last agent certificate (DER), lowercase hex' }),
  certificate: Type.Object({
    serialNumber: Type.Union([Type.String(), Type.Null()], { description: 'Lowercase hex without leading zeros; null for an agent onboarded before trustgate kept it, until its next connection' }),
    notBefore: Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601 UTC; null like serialNumber' }),
    notAfter: Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601 UTC; null like serialNumber' }),
    fingerprintSha256: Type.String({ description: 'SHA-256 of the certificate (DER), lowercase hex' }),
  }, { description: 'The certificate of the agent\'s last connection (recorded at onboarding and whenever it connects with another one)' }),
  enabled: Type.Boolean(),
  online: Type.Boolean(),
  firstConnectedAt: Type.String(),
  lastConnectedAt: Type.String(),
});
export type AgentResource = Static<typeof AgentResource>;

export const toAgentResource = (agent: AgentRecord): AgentResource => ({
  id: agent.id,
  clientId: agent.clientId,
  commonName: agent.commonName,
  caCertificateId: agent.caCertificateId,
  certificateFingerprint: agent.certificateFingerprintSha256,
  certificate: {
    serialNumber: agent.certificateValidity?.serialNumber ?? null,
    notBefore: agent.certificateValidity?.notBefore.toISOString() ?? null,
    notAfter: agent.certificateValidity?.notAfter.toISOString() ?? null,
    fingerprintSha256: agent.certificateFingerprintSha256,
  },
  enabled: agent.isEnabled,
  online: agent.isOnline,
  firstConnectedAt: agent.firstConnectedAt.toISOString(),
  lastConnectedAt: agent.lastConnectedAt.toISOString(),
});

export const PatchAgentBody = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false });

export const DoctorBody = Type.Object({
  agentCertificate: Type.String({ minLength: 1, maxLength: 65536, description: 'The agent certificate PEM (the CA may be appended)' }),
  clientId: Type.Optional(Type.String({ maxLength: 256, description: 'The MQTT client id the agent will use' })),
});

export const DoctorResponse = Type.Object({
  wouldBeAccepted: Type.Boolean(),
  clientId: Type.Union([Type.String(), Type.Null()], { description: 'The client id the agent must use, when known' }),
  steps: Type.Array(Type.Object({
    check: Type.String(),
    status: Type.Union([Type.Literal('passed'), Type.Literal('failed'), Type.Literal('skipped')]),
    message: Type.String(),
  })),
});

export const toDoctorResponse = (diagnosis: Diagnosis): Static<typeof DoctorResponse> =>
  ({ wouldBeAccepted: diagnosis.wouldBeAccepted, clientId: diagnosis.clientId ?? null, steps: [...diagnosis.steps] });
