import { issuerOf, type AdmissionRule } from '../admission-rule.ts';

export const agentIssuerMustBeAVerifiedCa: AdmissionRule = {
  id: 'agent-issuer-must-be-a-verified-ca',
  step: 'issuer',
  citation: 'trustgate: signed directly by a CA certificate verified in some tenant, a CA key trusted by one tenant at a time; RFC 5280 §6.1.3 (a)(1)',
  check: ({ certificate, issuer: ca, issuerKeyTrustedBy }) => {
    // A CA key is trusted by one tenant at a time; stored data that breaks this decides for no one.
    if (issuerKeyTrustedBy) {
      return { code: 'mqtt.caKeyConflict', message: 'The key that signed this certificate is trusted by more than one tenant, so the broker cannot tell whose agent this is and refuses it. The operator must delete the CA certificate registered by mistake (the server log names them).' };
    }
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
