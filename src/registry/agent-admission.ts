import type { Certificate } from '../pki/index.ts';
import type { ErrorCode, TenantId } from '../shared/index.ts';
import type { AdmissionContext, AdmissionSubject } from './admission/admission-rule.ts';
import { admissionRules } from './admission/admission-rules.ts';
import { expectedClientIdOf } from './admission/expected-client-id.ts';
import type { IndexedCaCertificate, IssuerLookup, TrustIndex } from './trust-index.ts';

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
  | {
    readonly isAccepted: false; readonly code: ErrorCode; readonly message: string; readonly expectedClientId: string | undefined;
    /** The tenant whose CA issued the certificate, when the refusal came after the issuer was found
     *  (its signature verified): the broker's bans and audit attribute the refusal to it. */
    readonly issuerTenant: TenantId | undefined;
  };

/** The checks in the order they run, as the doctor lists them. */
export const admissionChecks: readonly string[] = admissionRules.map((rule) => rule.step);

const SKIPPED_AFTER_FAILURE = 'Not checked: an earlier check failed.';

// The broker and the doctor run the same ordered rule list (admission/admission-rules.ts): the
// first failure decides. Only the doctor passes `steps`; the connect path then builds no messages.
const runAdmissionRules = (input: AdmissionInput, index: TrustIndex, steps: AdmissionStep[] | undefined): AdmissionVerdict => {
  // The issuer is looked up lazily: a certificate the first rule refuses costs no signature check.
  let lookup: IssuerLookup | undefined;
  const lookUpIssuer = (): IssuerLookup => lookup ??= index.lookupIssuer(input.certificate, input.tenant);
  const subject: AdmissionSubject = {
    certificate: input.certificate,
    clientId: input.clientId,
    get issuer() {
      return lookUpIssuer().issuer;
    },
    get issuerKeyTrustedBy() {
      return lookUpIssuer().conflictingTenants;
    },
  };
  const context: AdmissionContext = { now: input.now, clockSkewMs: input.clockSkewMs, trustIndex: index };
  let failure: { code: ErrorCode; message: string } | undefined;
  let passedCommonName = false;
  for (const rule of admissionRules) {
    if (failure) {
      if (!steps) break;
      steps.push({ check: rule.step, status: 'skipped', message: SKIPPED_AFTER_FAILURE });
      continue;
    }
    if (rule.appliesTo && !rule.appliesTo(subject, context)) {
      steps?.push({ check: rule.step, status: 'skipped', message: rule.notApplicable?.(subject, context) ?? 'Does not apply.' });
      continue;
    }
    const problem = rule.check(subject, context);
    if (problem) {
      failure = { code: problem.code, message: problem.message };
      steps?.push({ check: rule.step, status: 'failed', message: problem.message });
    } else {
      if (rule.step === 'commonName') passedCommonName = true;
      steps?.push({ check: rule.step, status: 'passed', message: rule.passed(subject, context) });
    }
  }
  // The client id the agent must use, once issuer and CN are known (also when the given one is wrong).
  if (failure) {
    return {
      isAccepted: false, ...failure, expectedClientId: subject.issuer && passedCommonName ? expectedClientIdOf(subject) : undefined,
      issuerTenant: lookup?.issuer?.tenant,
    };
  }
  const issuer = subject.issuer!;
  const commonName = input.certificate.subjectCommonNames[0]!;
  return { isAccepted: true, tenant: issuer.tenant, caCertificate: issuer, commonName, clientId: input.clientId ?? `${issuer.tenant}_${commonName}` };
};

/** The broker's question: accepted, or the first refusal. */
export const admitAgentCertificate = (input: AdmissionInput, index: TrustIndex): AdmissionVerdict => runAdmissionRules(input, index, undefined);

/** The doctor's question: the same verdict, with every step and what it found. */
export const evaluateAgentCertificate = (input: AdmissionInput, index: TrustIndex): { steps: AdmissionStep[]; verdict: AdmissionVerdict } => {
  const steps: AdmissionStep[] = [];
  const verdict = runAdmissionRules(input, index, steps);
  return { steps, verdict };
};
