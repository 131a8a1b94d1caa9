import type { ErrorCode } from '../shared/index.ts';

// MQTT 3.1.1 §3.2.2.3 CONNACK return codes trustgate uses.
export const CONNACK = { identifierRejected: 2, serverUnavailable: 3, badUserNameOrPassword: 4, notAuthorized: 5 } as const;
type ConnackCode = (typeof CONNACK)[keyof typeof CONNACK];

// The one table from error code to CONNACK code (SPEC: 2 for a client id that is not
// <tenant>_<CN>, 4 for a bad token or a user name the token contradicts, 5 for every certificate
// or agent problem; 3 "server unavailable" when the database cannot be reached, so the client
// retries instead of concluding its certificate is refused). Total, so a new code
// cannot be forgotten; codes that no connection can raise map to 5.
export const connackCodeByError = {
  'request.invalid': 5,
  'request.malformedJson': 5,
  'request.bodyTooLarge': 5,
  'request.unsupportedMediaType': 5,
  'request.routeNotFound': 5,
  'internal': 5,
  'storage.unavailable': 3,
  'auth.tokenMissing': 4,
  'auth.tokenInvalid': 4,
  'auth.tokenExpired': 4,
  'auth.tenantInvalid': 4,
  'auth.scopeMissing': 5,
  'auth.identityProviderUnavailable': 5,
  'pem.invalid': 5,
  'pem.privateKeyIncluded': 5,
  'pem.multipleCertificates': 5,
  'caCertificate.notFound': 5,
  'caCertificate.notV3': 5,
  'caCertificate.notCa': 5,
  'caCertificate.keyCertSignMissing': 5,
  'caCertificate.intermediateNotSupported': 5,
  'caCertificate.expired': 5,
  'caCertificate.notYetValid': 5,
  'caCertificate.weakKey': 5,
  'caCertificate.weakSignature': 5,
  'caCertificate.duplicate': 5,
  'caCertificate.keyOfManagedCa': 5,
  'caCertificate.limitReached': 5,
  'verification.registrationCodeMismatch': 5,
  'verification.issuerMismatch': 5,
  'verification.signatureMismatch': 5,
  'verification.expired': 5,
  'verification.notYetValid': 5,
  'verification.keyVerifiedByOtherTenant': 5,
  'csr.invalid': 5,
  'csr.weakKey': 5,
  'agent.notFound': 5,
  'agentCertificate.notFound': 5,
  'agentCertificate.nameInvalid': 5,
  'agentCertificate.duplicate': 5,
  'mqtt.credentialsMissing': 5,
  'mqtt.certificateInvalid': 5,
  'mqtt.unknownCa': 5,
  'mqtt.caNotVerified': 5,
  'mqtt.caExpired': 5,
  'mqtt.certificateExpired': 5,
  'mqtt.certificateNotYetValid': 5,
  'mqtt.certificateRevoked': 5,
  'mqtt.caKeyConflict': 5,
  'mqtt.certificateIsCa': 5,
  'mqtt.clientAuthNotAllowed': 5,
  'mqtt.commonNameInvalid': 5,
  'mqtt.clientIdMismatch': 2,
  'mqtt.agentDisabled': 5,
  'mqtt.applicationClientIdInvalid': 2,
  'mqtt.tenantMismatch': 4,
} as const satisfies Record<ErrorCode, ConnackCode>;
