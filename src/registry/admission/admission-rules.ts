import {
  caCertificateRules, caMustBeSelfSigned, caMustBeValidNow, certificateStructureRules, describeKey, firstProblem, validityProblem, weakKeyDescription, weakSignatureDescription,
  type Certificate, type RuleProblem,
} from '../../pki/index.ts';
import { commonNameProblem } from './agent-common-name.ts';
import { issuerOf, type AdmissionRule } from './admission-rule.ts';

const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const OID_ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

const issuer: AdmissionRule = {
  id: 'agent-issuer-must-be-a-verified-ca',
  step: 'issuer',
  citation: 'SPEC "MQTT broker": signed directly by a CA certificate verified in some tenant; RFC 5280 §6.1.3 (a)(1)',
  check: ({ certificate, issuer: ca }) => {
    if (!ca) {
      return { code: 'mqtt.unknownCa', message: `No registered CA certificate signed this certificate (issuer "${certificate.issuer.replaceAll('\n', ', ')}"). Register and verify the CA that issued it; certificates issued by intermediate CAs are not supported.` };
    }
    return ca.isVerified ? undefined : {
      code: 'mqtt.caNotVerified',
      message: `The issuing CA certificate ${ca.id} is registered but not verified. Verify it (POST /caCertificates/${ca.id}/verify) to let its agents in.`,
    };
  },
  passed: (subject) => issuerOf(subject).isManaged ? `Issued by the tenant's managed agent CA ${issuerOf(subject).id}.` : `Issued by the verified CA certificate ${issuerOf(subject).id}.`,
};

const revocation: AdmissionRule = {
  id: 'agent-certificate-must-not-be-revoked',
  step: 'revocation',
  citation: 'RFC 5280 §6.3; SPEC "Certificate lifecycle"',
  // In memory like the CAs (loaded at start, kept current by events): no database query.
  check: ({ certificate }, { trustIndex }) => trustIndex.isRevoked(certificate.fingerprintSha256)
    ? { code: 'mqtt.certificateRevoked', message: `This agent certificate (SHA-256 ${certificate.fingerprintSha256}) was revoked. Issue a new one (POST /agentCertificates) and install it on the agent.` }
    : undefined,
  passed: () => 'Not revoked.',
};

const caValidity: AdmissionRule = {
  id: 'issuing-ca-must-be-valid-now',
  step: 'caValidity',
  citation: 'RFC 5280 §4.1.2.5, §6.1.3 (a)(2); the same clock skew as at upload',
  check: (subject, context) => {
    const { certificate: ca } = issuerOf(subject);
    return validityProblem(ca, context) === undefined ? undefined : {
      code: 'mqtt.caExpired',
      message: `The issuing CA certificate is valid only from ${ca.notBefore.toISOString()} to ${ca.notAfter.toISOString()} (server time ${context.now.toISOString()}). Register a current CA and reissue the agent certificate.`,
    };
  },
  passed: (subject) => `The CA certificate is valid until ${issuerOf(subject).certificate.notAfter.toISOString()}.`,
};

// The upload rules apply to a stored CA too (fail closed for one stored by an earlier version
// that today's rules refuse, e.g. critical nameConstraints); validity is the step above, and the
// self-signature was checked at upload on the very bytes stored (no second signature check per
// CA on the connect path). The answer cannot change for one certificate value, so it is computed
// once per CA, not per connect.
const caRulesAtAdmission = caCertificateRules.filter((rule) => rule.id !== caMustBeValidNow.id && rule.id !== caMustBeSelfSigned.id);
const caProblems = new WeakMap<Certificate, RuleProblem | null>();
const caProblemOf = (ca: Certificate): RuleProblem | undefined => {
  let problem = caProblems.get(ca);
  if (problem === undefined) {
    problem = firstProblem(caRulesAtAdmission, ca, { now: new Date(0), clockSkewMs: 0 }) ?? null;
    caProblems.set(ca, problem);
  }
  return problem ?? undefined;
};

const caRules: AdmissionRule = {
  id: 'issuing-ca-must-pass-the-ca-rules',
  step: 'caRules',
  citation: 'SPEC "Rules for an uploaded CA certificate"; RFC 5280 §4.2',
  check: (subject) => {
    const problem = caProblemOf(issuerOf(subject).certificate);
    return problem && {
      code: 'mqtt.caInvalid',
      message: `The issuing CA certificate ${issuerOf(subject).id} was stored by an earlier version but fails a CA rule now (${problem.code}): ${problem.message}`,
    };
  },
  passed: () => 'The CA certificate passes every CA rule.',
};

const validity: AdmissionRule = {
  id: 'agent-certificate-must-be-valid-now',
  step: 'validity',
  citation: 'RFC 5280 §4.1.2.5',
  check: ({ certificate }, context) => {
    switch (validityProblem(certificate, context)) {
      case 'expired':
        return { code: 'mqtt.certificateExpired', message: `The agent certificate expired at ${certificate.notAfter.toISOString()}. Issue a new one.` };
      case 'notYetValid':
        return {
          code: 'mqtt.certificateNotYetValid',
          message: `The agent certificate is not valid before ${certificate.notBefore.toISOString()} (server time ${context.now.toISOString()}). Check the issuing machine's clock.`,
        };
      default:
        return undefined;
    }
  },
  passed: ({ certificate }) => `Valid until ${certificate.notAfter.toISOString()}.`,
};

// RFC 5280 well-formedness (strict DER, serial number, unique extensions, no unprocessed critical
// extension, keyCertSign only with CA:TRUE): the same list as for uploads and verification.
const structure: AdmissionRule = {
  id: 'agent-certificate-must-be-well-formed',
  step: 'structure',
  citation: 'RFC 5280 §4.1, §4.1.2.2, §4.2, §4.2.1.3',
  check: ({ certificate }, context) => firstProblem(certificateStructureRules, certificate, context),
  passed: () => 'Strict DER, a valid serial number, each extension once, no critical extension trustgate ignores.',
};

const keyStrength: AdmissionRule = {
  id: 'agent-key-must-be-strong',
  step: 'keyStrength',
  citation: 'SPEC "MQTT broker" (as strong as an uploaded CA); NIST SP 800-57 Pt.1 Rev.5 §5.6',
  check: ({ certificate }) => {
    const weakKey = weakKeyDescription(certificate);
    return weakKey === undefined ? undefined : {
      code: 'mqtt.certificateWeakKey',
      message: `The agent certificate's key is ${weakKey}; issue it for an RSA key of at least 2048 bits or an EC P-256, P-384 or P-521 key.`,
    };
  },
  passed: ({ certificate }) => `Key ${describeKey(certificate.publicKey)}.`,
};

const signatureStrength: AdmissionRule = {
  id: 'agent-signature-hash-must-be-strong',
  step: 'signatureStrength',
  citation: 'SPEC "MQTT broker"; NIST SP 800-131A Rev.2 §9 (no SHA-1 signatures)',
  check: ({ certificate }) => {
    const weakSignature = weakSignatureDescription(certificate);
    return weakSignature === undefined ? undefined : {
      code: 'mqtt.certificateWeakSignature',
      message: `The agent certificate is signed with ${weakSignature}; have the CA sign it with SHA-256 or stronger (add "-sha256" to the openssl command).`,
    };
  },
  passed: ({ certificate }) => `Signed with ${certificate.signatureHash?.toUpperCase() ?? 'a strong hash'}.`,
};

const notCa: AdmissionRule = {
  id: 'agent-certificate-must-not-be-a-ca',
  step: 'notCa',
  // An agent certificate is an end entity; a CA certificate here would be an intermediate.
  citation: 'RFC 5280 §4.2.1.9',
  check: ({ certificate }) => certificate.basicConstraints?.isCa === true
    ? { code: 'mqtt.certificateIsCa', message: 'The certificate is a CA certificate (basicConstraints CA:TRUE). Agents need an end-entity certificate issued by the CA.' }
    : undefined,
  passed: () => 'An end-entity certificate.',
};

const clientAuth: AdmissionRule = {
  id: 'agent-certificate-must-allow-client-auth',
  step: 'clientAuth',
  // If extendedKeyUsage is present it must allow TLS client authentication.
  citation: 'RFC 5280 §4.2.1.12',
  check: ({ certificate: { extendedKeyUsage } }) => extendedKeyUsage && !extendedKeyUsage.includes(OID_CLIENT_AUTH) && !extendedKeyUsage.includes(OID_ANY_EXTENDED_KEY_USAGE)
    ? { code: 'mqtt.clientAuthNotAllowed', message: 'The certificate\'s extendedKeyUsage does not include clientAuth. Issue it with "extendedKeyUsage = clientAuth" or without extendedKeyUsage.' }
    : undefined,
  passed: ({ certificate: { extendedKeyUsage } }) => extendedKeyUsage ? 'extendedKeyUsage allows clientAuth.' : 'No extendedKeyUsage restriction.',
};

const showName = (name: string): string => JSON.stringify(name).replace(/[\uD800-\uDFFF\uFDD0-\uFDEF\uFFFE\uFFFF]/g, (char) => `\\u${char.charCodeAt(0).toString(16).toUpperCase()}`);

const commonName: AdmissionRule = {
  id: 'agent-certificate-must-have-one-usable-cn',
  step: 'commonName',
  citation: 'SPEC "MQTT broker" (client id <tenant>_<CN>); RFC 5280 ub-common-name 64; MQTT-1.5.3-1',
  check: ({ certificate: { subjectCommonNames: names } }) => {
    const [name] = names;
    const problem = names.length === 1 && name !== undefined ? commonNameProblem(name) : `found ${names.length === 0 ? 'none' : names.length}`;
    return problem === undefined ? undefined : {
      code: 'mqtt.commonNameInvalid',
      message: `The agent certificate needs exactly one CN of 1-64 characters without "/", "+", "#", NUL, Unicode noncharacters (such as U+FFFF) or unpaired surrogates; it becomes part of the client id and topics (${names.length === 1 ? `CN ${showName(name!).slice(0, 200)}: ` : ''}${problem}${names.length > 1 ? `: ${names.map(showName).join(', ')}` : ''}).`,
    };
  },
  passed: ({ certificate }) => `CN "${certificate.subjectCommonNames[0]!}".`,
};

const expectedClientIdOf = (subject: Parameters<AdmissionRule['check']>[0]): string => `${issuerOf(subject).tenant}_${subject.certificate.subjectCommonNames[0]!}`;

const clientId: AdmissionRule = {
  id: 'client-id-must-be-tenant-and-cn',
  step: 'clientId',
  citation: 'SPEC "MQTT broker": client id = <tenant>_<CN>; MindConnect',
  appliesTo: ({ clientId: given }) => given !== undefined,
  check: (subject) => subject.clientId === expectedClientIdOf(subject) ? undefined : {
    code: 'mqtt.clientIdMismatch',
    message: `The client id is "${subject.clientId!}" but must be "${expectedClientIdOf(subject)}" (<tenant>_<CN of the certificate>).`,
  },
  passed: ({ clientId: given }) => `Client id "${given!}" is <tenant>_<CN>.`,
  notApplicable: (subject) => `No client id given; the agent must connect with client id "${expectedClientIdOf(subject)}".`,
};

// SPEC "MQTT broker": accepted iff signed directly by a CA certificate verified in some tenant T,
// both within validity, well formed and strong, client id = T_<CN>. In order; the first failure
// decides. Well-formedness first, as in the CA lint: a malformed certificate is refused for what it
// is (OpenSSL's signature check would call a non-DER ECDSA signature "unknown CA"), before any
// signature is checked; then the issuer and its facts, as the doctor has always listed them.
export const admissionRules: readonly AdmissionRule[] = [
  structure,
  issuer,
  revocation,
  caValidity,
  caRules,
  validity,
  keyStrength,
  signatureStrength,
  notCa,
  clientAuth,
  commonName,
  clientId,
];

export { expectedClientIdOf };
