import type { AdmissionRule } from '../admission-rule.ts';

const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const OID_ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

export const agentCertificateMustAllowClientAuth: AdmissionRule = {
  id: 'agent-certificate-must-allow-client-auth',
  step: 'clientAuth',
  // If extendedKeyUsage is present it must allow TLS client authentication.
  citation: 'RFC 5280 §4.2.1.12',
  check: ({ certificate: { extendedKeyUsage } }) => extendedKeyUsage && !extendedKeyUsage.includes(OID_CLIENT_AUTH) && !extendedKeyUsage.includes(OID_ANY_EXTENDED_KEY_USAGE)
    ? { code: 'mqtt.clientAuthNotAllowed', message: 'The certificate\'s extendedKeyUsage does not include clientAuth. Issue it with "extendedKeyUsage = clientAuth" or without extendedKeyUsage.' }
    : undefined,
  passed: ({ certificate: { extendedKeyUsage } }) => extendedKeyUsage ? 'extendedKeyUsage allows clientAuth.' : 'No extendedKeyUsage restriction.',
};
