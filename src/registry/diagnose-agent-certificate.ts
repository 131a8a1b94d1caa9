import { containsPrivateKey, parseCertificateAsTlsPeer, parsePemBlocks, privateKeyIncluded } from '../pki/index.ts';
import { DomainError, isDomainError, type TenantId } from '../shared/index.ts';
import { admissionChecks, evaluateAgentCertificate, type AdmissionStep } from './agent-admission.ts';
import type { RegistryDependencies } from './ports.ts';

export interface Diagnosis {
  readonly wouldBeAccepted: boolean;
  readonly clientId: string | undefined;
  readonly steps: readonly AdmissionStep[];
}

// The doctor: the broker's admission checks as a dry run, step by step, within the asking tenant.
export const diagnoseAgentCertificate = async (
  { agents, clock, settings, trustIndex }: Pick<RegistryDependencies, 'agents' | 'clock' | 'settings' | 'trustIndex'>,
  { tenant, agentCertificatePem, clientId }: { tenant: TenantId; agentCertificatePem: string; clientId: string | undefined },
): Promise<Diagnosis> => {
  // The agent's file may hold its CA appended (as the how-to concatenates them): the first
  // certificate is the agent's, as in a TLS handshake, and it is judged as the TLS layer hands it
  // to the broker (parseCertificateAsTlsPeer).
  let certificate;
  try {
    if (containsPrivateKey(agentCertificatePem)) throw privateKeyIncluded('agentCertificate');
    const first = parsePemBlocks(agentCertificatePem).find((block) => block.label === 'CERTIFICATE');
    if (!first) throw new DomainError('pem.invalid', 'agentCertificate holds no PEM certificate. Send the agent\'s -----BEGIN CERTIFICATE----- block.');
    certificate = parseCertificateAsTlsPeer(first.der, 'agentCertificate');
  } catch (error) {
    if (!isDomainError(error)) throw error;
    const skipped = [...admissionChecks, 'agentEnabled'].map((check): AdmissionStep => ({ check, status: 'skipped', message: 'Not checked: an earlier check failed.' }));
    return { wouldBeAccepted: false, clientId: undefined, steps: [{ check: 'certificate', status: 'failed', message: error.message }, ...skipped] };
  }
  const { steps, verdict } = evaluateAgentCertificate({ certificate, clientId, now: clock.now(), clockSkewMs: settings.clockSkewMs, tenant }, trustIndex);
  const all: AdmissionStep[] = [{ check: 'certificate', status: 'passed', message: `Subject "${certificate.subject.replaceAll('\n', ', ')}".` }, ...steps];
  if (!verdict.isAccepted) {
    all.push({ check: 'agentEnabled', status: 'skipped', message: 'Not checked: an earlier check failed.' });
    // The client id the agent must use, once issuer and CN are known (also when the given one is wrong).
    return { wouldBeAccepted: false, clientId: verdict.expectedClientId, steps: all };
  }
  const agent = await agents.findByClientId(verdict.tenant, verdict.clientId);
  const isDisabled = agent !== undefined && !agent.isEnabled;
  all.push(isDisabled
    ? { check: 'agentEnabled', status: 'failed', message: `The agent "${verdict.clientId}" is disabled.` }
    : { check: 'agentEnabled', status: 'passed', message: agent ? `Known agent ${agent.id}, enabled.` : 'New agent: it will be onboarded on its first connection.' });
  return { wouldBeAccepted: !isDisabled && steps.every((s) => s.status !== 'failed'), clientId: verdict.clientId, steps: all };
};
