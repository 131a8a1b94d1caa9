import type { Certificate, CertificateRule, RuleContext } from '../../pki/index.ts';
import type { TenantId } from '../../shared/index.ts';
import type { IndexedCaCertificate, TrustIndex } from '../trust-index.ts';

export interface AdmissionSubject {
  readonly certificate: Certificate;
  /** Undefined when the doctor is asked without a client id. */
  readonly clientId: string | undefined;
  /** The registered CA whose key signed the certificate, looked up once before the rules run. */
  readonly issuer: IndexedCaCertificate | undefined;
  /** Set instead of `issuer` when the signing key is trusted by more than one tenant (stored data
   *  from before keys were claimed): the tenants, so that no list order decides (decision 0013). */
  readonly issuerKeyTrustedBy: readonly TenantId[] | undefined;
}

export interface AdmissionContext extends RuleContext {
  readonly trustIndex: TrustIndex;
}

// An admission rule is a certificate rule (certificate-rule.ts: id, citation, appliesTo, check)
// over the agent certificate, its issuer and the client id, plus what the doctor shows: the step
// name (stable API of POST /agents/doctor), and what it says when the rule passes or does not
// apply. Those messages are only built for the doctor, never on the connect path.
export interface AdmissionRule extends CertificateRule<AdmissionSubject, AdmissionContext> {
  readonly step: string;
  readonly passed: (subject: AdmissionSubject, context: AdmissionContext) => string;
  readonly notApplicable?: (subject: AdmissionSubject, context: AdmissionContext) => string;
}

/** The rules after `issuer` only run once it passed, so they may rely on it. */
export const issuerOf = (subject: AdmissionSubject): IndexedCaCertificate => subject.issuer!;
