import type { Certificate } from '../pki/index.ts';
import { isTopicSafeLevel } from './topic-level.ts';
import type { ErrorCode, TenantId } from '../shared/index.ts';
import type { IndexedCaCertificate, TrustIndex } from './trust-index.ts';

export interface AdmissionInput {
  readonly certificate: Certificate;
  /** Undefined when the doctor is asked without a client id. */
  readonly clientId: string | undefined;
  readonly now: Date;
  readonly clockSkewMs: number;
  /** The doctor looks only at the asking tenant's CAs, so it cannot reveal other tenants'. */
  readonly tenant?: TenantId;
}

export interface AdmissionStep {
  readonly check: string;
  readonly status: 'passed' | 'failed' | 'skipped';
  readonly message: string;
}

export type AdmissionVerdict =
  | { readonly isAccepted: true; readonly tenant: TenantId; readonly caCertificate: IndexedCaCertificate; readonly commonName: string; readonly clientId: string }
  | { readonly isAccepted: false; readonly code: ErrorCode; readonly message: string; readonly expectedClientId: string | undefined };

const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const OID_ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

interface State {
  issuer?: IndexedCaCertificate;
  commonName?: string;
}

type Outcome = { readonly failed: ErrorCode; readonly message: string } | { readonly passed: string } | { readonly skipped: string };

interface Rule {
  readonly check: string;
  run(input: AdmissionInput, state: State, index: TrustIndex): Outcome;
}

// SPEC "MQTT broker": accepted iff signed directly by a CA certificate verified in some tenant T,
// both within validity, client id = T_<CN>. Rules in order; the first failure decides.
const rules: readonly Rule[] = [
  {
    check: 'issuer',
    run: ({ certificate, tenant }, state, index) => {
      const { issuer, conflictingTenants } = index.lookupIssuer(certificate, tenant);
      if (!issuer) {
        // SPEC: a CA key is trusted by one tenant at a time; stored data that breaks this decides for no one.
        if (conflictingTenants) {
          return { failed: 'mqtt.caKeyConflict', message: 'The key that signed this certificate is trusted by more than one tenant, so the broker cannot tell whose agent this is and refuses it. The operator must delete the CA certificate registered by mistake (the server log names them).' };
        }
        return { failed: 'mqtt.unknownCa', message: `No registered CA certificate signed this certificate (issuer "${certificate.issuer.replaceAll('\n', ', ')}"). Register and verify the CA that issued it; certificates issued by intermediate CAs are not supported.` };
      }
      state.issuer = issuer;
      if (!issuer.isVerified) {
        return { failed: 'mqtt.caNotVerified', message: `The issuing CA certificate ${issuer.id} is registered but not verified. Verify it (POST /caCertificates/${issuer.id}/verify) to let its agents in.` };
      }
      return { passed: issuer.isManaged ? `Issued by the tenant's managed agent CA ${issuer.id}.` : `Issued by the verified CA certificate ${issuer.id}.` };
    },
  },
  {
    check: 'revocation',
    // In memory like the CAs (loaded at start, kept current by events): no database query.
    // By issuer + serial number (RFC 5280 §5.3), not by a hash of the bytes: those change when an
    // ECDSA signature (r, s) is rewritten as (r, n - s), which stays valid.
    run: ({ certificate }, { issuer }, index) => index.isRevoked(issuer!.id, certificate.serialNumber)
      ? { failed: 'mqtt.certificateRevoked', message: `This agent certificate (serial number ${certificate.serialNumber}, issued by CA ${issuer!.id}) was revoked. Issue a new one (POST /agentCertificates) and install it on the agent.` }
      : { passed: 'Not revoked.' },
  },
  {
    check: 'caValidity',
    run: ({ now }, { issuer }) => issuer!.certificate.notAfter < now || issuer!.certificate.notBefore > now
      ? { failed: 'mqtt.caExpired', message: `The issuing CA certificate is valid only from ${issuer!.certificate.notBefore.toISOString()} to ${issuer!.certificate.notAfter.toISOString()}. Register a current CA and reissue the agent certificate.` }
      : { passed: `The CA certificate is valid until ${issuer!.certificate.notAfter.toISOString()}.` },
  },
  {
    check: 'validity',
    run: ({ certificate, now, clockSkewMs }) => {
      if (certificate.notAfter < now) return { failed: 'mqtt.certificateExpired', message: `The agent certificate expired at ${certificate.notAfter.toISOString()}. Issue a new one.` };
      if (certificate.notBefore.getTime() > now.getTime() + clockSkewMs) {
        return { failed: 'mqtt.certificateNotYetValid', message: `The agent certificate is not valid before ${certificate.notBefore.toISOString()} (server time ${now.toISOString()}). Check the issuing machine's clock.` };
      }
      return { passed: `Valid until ${certificate.notAfter.toISOString()}.` };
    },
  },
  {
    check: 'notCa',
    // RFC 5280 §4.2.1.9: an agent certificate is an end entity; a CA certificate here would be an intermediate.
    run: ({ certificate }) => certificate.basicConstraints?.isCa === true
      ? { failed: 'mqtt.certificateIsCa', message: 'The certificate is a CA certificate (basicConstraints CA:TRUE). Agents need an end-entity certificate issued by the CA.' }
      : { passed: 'An end-entity certificate.' },
  },
  {
    check: 'clientAuth',
    // RFC 5280 §4.2.1.12: if extendedKeyUsage is present it must allow TLS client authentication.
    run: ({ certificate: { extendedKeyUsage } }) => extendedKeyUsage && !extendedKeyUsage.includes(OID_CLIENT_AUTH) && !extendedKeyUsage.includes(OID_ANY_EXTENDED_KEY_USAGE)
      ? { failed: 'mqtt.clientAuthNotAllowed', message: 'The certificate\'s extendedKeyUsage does not include clientAuth. Issue it with "extendedKeyUsage = clientAuth" or without extendedKeyUsage.' }
      : { passed: extendedKeyUsage ? 'extendedKeyUsage allows clientAuth.' : 'No extendedKeyUsage restriction.' },
  },
  {
    check: 'commonName',
    run: ({ certificate }, state) => {
      const names = certificate.subjectCommonNames;
      const [name] = names;
      if (names.length !== 1 || name === undefined || !isTopicSafeLevel(name) || name.length > 64) {
        return { failed: 'mqtt.commonNameInvalid', message: `The agent certificate needs exactly one CN of 1-64 characters without "/", "+", "#" (found ${names.length === 0 ? 'none' : names.map((n) => JSON.stringify(n)).join(', ')}); it becomes part of the client id and topics.` };
      }
      state.commonName = name;
      return { passed: `CN "${name}".` };
    },
  },
  {
    check: 'clientId',
    run: ({ clientId }, { issuer, commonName }) => {
      const expected = `${issuer!.tenant}_${commonName!}`;
      if (clientId === undefined) return { skipped: `No client id given; the agent must connect with client id "${expected}".` };
      return clientId === expected
        ? { passed: `Client id "${clientId}" is <tenant>_<CN>.` }
        : { failed: 'mqtt.clientIdMismatch', message: `The client id is "${clientId}" but must be "${expected}" (<tenant>_<CN of the certificate>).` };
    },
  },
];

/** The checks in the order they run, as the doctor lists them. */
export const admissionChecks: readonly string[] = rules.map((rule) => rule.check);

// Runs every rule up to the first failure; the rest are reported as skipped (for the doctor).
export const evaluateAgentCertificate = (input: AdmissionInput, index: TrustIndex): { steps: AdmissionStep[]; verdict: AdmissionVerdict } => {
  const steps: AdmissionStep[] = [];
  const state: State = {};
  let failure: { code: ErrorCode; message: string } | undefined;
  for (const rule of rules) {
    if (failure) {
      steps.push({ check: rule.check, status: 'skipped', message: 'Not checked: an earlier check failed.' });
      continue;
    }
    const outcome = rule.run(input, state, index);
    if ('failed' in outcome) {
      failure = { code: outcome.failed, message: outcome.message };
      steps.push({ check: rule.check, status: 'failed', message: outcome.message });
    } else if ('passed' in outcome) {
      steps.push({ check: rule.check, status: 'passed', message: outcome.passed });
    } else {
      steps.push({ check: rule.check, status: 'skipped', message: outcome.skipped });
    }
  }
  const expectedClientId = state.issuer && state.commonName ? `${state.issuer.tenant}_${state.commonName}` : undefined;
  if (failure) return { steps, verdict: { isAccepted: false, ...failure, expectedClientId } };
  const tenant = state.issuer!.tenant;
  return {
    steps,
    verdict: { isAccepted: true, tenant, caCertificate: state.issuer!, commonName: state.commonName!, clientId: input.clientId ?? `${tenant}_${state.commonName!}` },
  };
};
