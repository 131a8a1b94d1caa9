import { brokerRootCaProfile, issueCertificate, issueServerCertificate, type IssuedCertificate } from '../../src/pki/index.ts';
import type { AgentIdentity } from './jobs.ts';
import type { MosquittoOptions } from './mosquitto-server.ts';
import { generateP256Key, mintAgentCertificate, mintCa, type MintedCertificate } from './fast-certificates.ts';

export const TENANT = 'bench';
export const APPLICATION_CN = 'bench-app';

export interface BenchPki {
  readonly tenant: string;
  /** The tenant's two CA certificates (MindConnect's limit); agents are issued by the first. */
  readonly tenantCas: readonly [MintedCertificate, MintedCertificate];
  /** One EC P-256 key for every agent (key generation is not what is measured); distinct certificates. */
  readonly agentKeyPem: string;
  readonly agents: readonly AgentIdentity[];
  /** Mosquitto's tenant application: a client certificate of its own (CN = its ACL user). */
  readonly mosquittoApplication: { readonly certificatePem: string; readonly keyPem: string };
  /** The bench's own root (trustgate's broker root has no key we hold) and Mosquitto's server certificate from it. */
  readonly benchRoot: IssuedCertificate;
  readonly mosquittoServer: IssuedCertificate;
}

export const agentCommonName = (i: number): string => `agent-${String(i).padStart(5, '0')}`;

export const createBenchPki = async (agentCount: number): Promise<BenchPki> => {
  const now = new Date();
  const tenantCas: [MintedCertificate, MintedCertificate] = [
    mintCa([['O', TENANT], ['CN', `${TENANT} Device CA 1`]]),
    mintCa([['O', TENANT], ['CN', `${TENANT} Device CA 2`]]),
  ];
  const agentKey = generateP256Key();
  const agents = Array.from({ length: agentCount }, (_, i): AgentIdentity => {
    const clientId = `${TENANT}_${agentCommonName(i)}`;
    return { clientId, certificatePem: mintAgentCertificate(tenantCas[0], agentCommonName(i), agentKey).pem, topic: `tc/${TENANT}/${clientId}/o/data` };
  });
  const applicationKey = generateP256Key();
  const application = mintAgentCertificate(tenantCas[0], APPLICATION_CN, applicationKey);
  const benchRoot = await issueCertificate(brokerRootCaProfile, { subject: { CN: 'trustgate bench root CA' }, key: 'p256', validityDays: 2, now });
  const mosquittoServer = await issueServerCertificate({ issuer: benchRoot, hostnames: ['localhost', '127.0.0.1'], validityDays: 1, now });
  return {
    tenant: TENANT, tenantCas, agentKeyPem: agentKey.privateKeyPem, agents,
    mosquittoApplication: { certificatePem: application.pem, keyPem: applicationKey.privateKeyPem },
    benchRoot, mosquittoServer,
  };
};

/** Mosquitto's configuration inputs: the same tenant CA, its own server certificate, the application's CN. */
export const mosquittoOptionsOf = (pki: BenchPki, dir: string): MosquittoOptions => ({
  dir, tenantCaPem: pki.tenantCas[0].pem, serverCertificatePem: pki.mosquittoServer.certificatePem,
  serverKeyPem: pki.mosquittoServer.privateKeyPem, tenant: pki.tenant, applicationCommonName: APPLICATION_CN,
});
