// The one catalogue of error codes trustgate can produce. Front doors map each code once
// (HTTP status in src/http/error-status.ts); docs/errors.md is kept equal to this list by a test.
// Codes are stable: scripts branch on them. Never rename one; add a new one instead.

export const errorCatalogue = {
  // Requests in general
  'request.invalid': 'The request body or parameters do not match the schema (wrong type, missing field, empty or too long value; a name or owner of only white space counts as empty).',
  'request.malformedJson': 'The body is not valid JSON.',
  'request.bodyTooLarge': 'The body exceeds the 64 KiB limit (8 MiB for PUT /caCertificates/{id}/crl).',
  'request.unsupportedMediaType': 'The body is not sent as application/json.',
  'request.routeNotFound': 'No such path or method under this API.',
  'internal': 'An unexpected error; details are in the server log under the logref.',
  'storage.unavailable': 'The database cannot be reached right now (down, restarting, unreachable or out of connections); retry shortly.',
  'rateLimit.exceeded': 'Too many calls of this endpoint by this tenant, or too many failed authentications from this address (TRUSTGATE_RATE_LIMITS, docs/limits.md): retry after the Retry-After header\'s seconds. Never a trust decision: the call was not looked at.',

  // Bearer tokens
  'auth.tokenMissing': 'No Authorization: Bearer header.',
  'auth.tokenInvalid': 'The token is malformed, wrongly signed, uses a forbidden algorithm, or has the wrong issuer or audience.',
  'auth.tokenExpired': 'The token has expired (or is not valid yet).',
  'auth.tenantInvalid': 'The token has no usable `ten` claim.',
  'auth.signInLinkInvalid': 'The console\'s one-time sign-in link (printed at start with the local dev issuer) is used, expired or wrong, or was opened from another machine.',
  'auth.scopeMissing': 'The token lacks the scope this call needs (mcmqtt.read or mcmqtt.admin).',
  'auth.agentTokenRefused': 'The token is an agent access token (issued to an agent over MQTT on i/agm_v3/tr): trustgate\'s REST APIs and tenant applications\' MQTT passwords never accept one.',
  'auth.identityProviderUnavailable': 'The external identity provider\'s JWKS cannot be fetched; tokens cannot be checked right now.',

  // PEM input (either field)
  'pem.invalid': 'The field holds no parseable PEM certificate.',
  'pem.privateKeyIncluded': 'The field contains a private key; only the certificate may be sent.',
  'pem.multipleCertificates': 'The field contains more than one certificate (a chain or bundle).',

  // Any certificate trustgate reads (CA upload, verification certificate, agent certificate at connect): RFC 5280 well-formedness
  'certificate.notDer': 'The certificate is not strict DER (e.g. a length in more octets than needed), so it would have a second encoding and fingerprint.',
  'certificate.serialNumberInvalid': 'The serial number is negative or longer than 20 octets (RFC 5280 §4.1.2.2).',
  'certificate.duplicateExtension': 'The certificate has an extension more than once (RFC 5280 §4.2).',
  'certificate.unknownCriticalExtension': 'The certificate has a critical extension trustgate does not process (RFC 5280 §4.2).',
  'certificate.keyCertSignWithoutCa': 'keyUsage allows keyCertSign but basicConstraints is missing or CA:FALSE (RFC 5280 §4.2.1.3).',

  // Uploaded CA certificate
  'caCertificate.notFound': 'No CA certificate with this id in this tenant.',
  'caCertificate.notV3': 'The certificate is X.509 v1/v2; a CA certificate must be v3.',
  'caCertificate.notCa': 'basicConstraints is missing or CA:FALSE.',
  'caCertificate.keyCertSignMissing': 'keyUsage is present but does not include keyCertSign.',
  'caCertificate.intermediateNotSupported': 'The certificate is not self-signed (issuer differs from subject or its own key does not verify it).',
  'caCertificate.expired': 'The CA certificate is past its notAfter.',
  'caCertificate.notYetValid': 'The CA certificate\'s notBefore is in the future.',
  'caCertificate.weakKey': 'The key is not RSA >= 2048 bits or EC P-256/P-384/P-521.',
  'caCertificate.weakSignature': 'The signature hash is weaker than SHA-256.',
  'caCertificate.nameConstraintsNotSupported': 'The CA certificate has nameConstraints, which trustgate does not enforce.',
  'caCertificate.duplicate': 'This certificate is already registered in this tenant.',
  'caCertificate.keyOfManagedCa': 'The certificate carries the key of a managed agent CA (the CA trustgate keeps for POST /agentCertificates); that key is trustgate\'s and cannot be registered or verified as an uploaded CA.',
  'caCertificate.limitReached': 'The tenant already holds the maximum number of CA certificates.',

  // Revocation by issuer + serial number, CRL import (uploaded CAs)
  'revocation.serialNumberInvalid': 'The serial number is not hex as OpenSSL prints it (any case, with or without colons between octet pairs, optionally 0x), or longer than 20 octets.',
  'revocation.reasonInvalid': 'The reason is not an RFC 5280 revocation reason name (unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise).',
  'revocation.duplicate': 'This serial number is already revoked through the API under this CA (in any spelling: case, colons and leading zeros do not make another serial); the first revocation stays.',
  'revocation.notFound': 'This serial number is not revoked through the API under this CA.',
  'revocation.notOnHold': 'Only a certificateHold can be released (DELETE); any other revocation reason is final.',
  'crl.invalid': 'The crl field holds no single readable PEM CRL (-----BEGIN X509 CRL-----).',
  'crl.issuerMismatch': 'The CRL\'s issuer name is not the subject of this CA certificate.',
  'crl.signatureInvalid': 'The CRL was not signed by this CA certificate\'s key (or was altered).',
  'crl.notYetValid': 'The CRL\'s thisUpdate is in the future (beyond the allowed clock skew).',
  'crl.replayed': 'The CRL is older than the one already imported for this CA (lower CRL number, or an earlier thisUpdate when either has no number).',
  'crl.notFound': 'No CRL has been imported for this CA certificate.',

  // Audit trail (GET /auditEvents)
  'auditEvent.sinceInvalid': 'since is not an ISO 8601 time with a zone (2026-12-03T03:12:00Z) or a date (2026-12-03).',
  'auditEvent.untilInvalid': 'until is not an ISO 8601 time with a zone or a date, or it is not later than since.',
  'auditEvent.actionInvalid': 'action is not one of the audit actions listed in docs/audit.md.',
  'auditEvent.limitInvalid': 'limit is not a whole number from 1 to 1000.',
  'auditEvent.cursorInvalid': 'The cursor was not issued to this tenant by GET /auditEvents (altered, truncated, or another tenant\'s).',

  // Proof of possession
  'verification.registrationCodeMismatch': 'The verification certificate\'s CN is not this CA\'s registration code.',
  'verification.issuerMismatch': 'The verification certificate\'s issuer is not this CA\'s subject.',
  'verification.signatureMismatch': 'The verification certificate was not signed by this CA\'s private key.',
  'verification.expired': 'The verification certificate is past its notAfter.',
  'verification.notYetValid': 'The verification certificate\'s notBefore is in the future.',
  'verification.weakKey': 'The verification certificate\'s key is not RSA >= 2048 bits or EC P-256/P-384/P-521.',
  'verification.weakSignature': 'The verification certificate\'s signature hash is weaker than SHA-256.',
  'verification.keyVerifiedByOtherTenant': 'Another tenant has already verified a CA certificate with this public key.',

  // Certificate signing requests (agent certificates from a device's key)
  'csr.invalid': 'The CSR cannot be read or its signature does not verify with its own key.',
  'csr.weakKey': 'The CSR\'s key is not RSA >= 2048 bits or EC P-256/P-384/P-521.',

  // Agents (REST: /agents)
  'agent.notFound': 'No agent with this id in this tenant.',
  'agent.expiringBeforeInvalid': 'GET /agents?expiringBefore= is not an ISO 8601 date and time with a zone (e.g. 2027-01-31T00:00:00Z).',
  'agent.streamTenantLimitReached': 'The tenant already has as many open GET /agents/events streams on this node as it may (10); close one (another browser tab) first.',
  'agent.streamNodeLimitReached': 'This node already serves as many GET /agents/events streams as it may (500); retry later or on another node.',

  // MQTT connect bans (REST: /bans; docs/limits.md)
  'ban.notFound': 'No active ban with this id in this tenant (it expired, was lifted, or is not yours).',

  // Webhooks (REST: /webhooks; docs/webhooks.md)
  'webhook.notFound': 'No webhook with this id in this tenant (it was deleted, or is not yours).',
  'webhook.hostsNotConfigured': 'No webhook may be registered on this server: the operator has not set TRUSTGATE_WEBHOOK_ALLOWED_HOSTS.',
  'webhook.urlInvalid': 'The webhook URL is not an absolute http(s) URL, is longer than 2048 characters, or holds credentials (user:password@) or a fragment (#).',
  'webhook.httpsRequired': 'The webhook URL is plain http:// and the operator requires https:// (TRUSTGATE_WEBHOOK_ALLOW_HTTP).',
  'webhook.hostNotAllowed': 'The webhook URL\'s host is not in the operator\'s TRUSTGATE_WEBHOOK_ALLOWED_HOSTS (an IP address, localhost or a metadata address only when listed itself).',
  'webhook.eventsInvalid': 'events is empty, repeats a name, or names an event type that does not exist (docs/webhooks.md lists them; "*" = all).',
  'webhook.secretInvalid': 'The webhook secret is shorter than 16 or longer than 256 characters.',
  'webhook.tooMany': 'The tenant already has the most webhooks allowed (TRUSTGATE_WEBHOOKS_PER_TENANT, default 10): delete one first.',
  'webhook.limitInvalid': 'limit is not a whole number from 1 to 100.',
  'webhook.cursorInvalid': 'The cursor is not a nextCursor of GET /webhooks/{id}/deliveries.',

  // Agent certificates issued by the tenant's managed CA (REST: /agentCertificates)
  'agentCertificate.notFound': 'No agent certificate with this id in this tenant.',
  'agentCertificate.nameInvalid': 'The name is not 1-64 characters of letters, digits, ".", "_" and "-" starting with a letter or digit (it becomes the CN and part of the client id and topics).',
  'agentCertificate.duplicate': 'The tenant already has an active (not revoked) agent certificate with this name.',

  // Renewal of a managed-CA agent certificate (MQTT o/cert_v1/csr, POST /agentCertificates/{id}/renew)
  'agentToken.requestInvalid': 'The agent token request on tc/<tenant>/<clientId>/o/agm_v3/t is not a JSON object with a non-empty string "id" (at most 256 characters).',
  'agentToken.rateLimited': 'The agent asked for an access token less than a minute ago: at most one request per agent per minute; retry at the time given (retryAt).',
  'renewal.requestInvalid': 'The renewal request on tc/<tenant>/<clientId>/o/cert_v1/csr is not a JSON object with a non-empty string "id" (at most 256 characters) and a string "csr" (PEM).',
  'renewal.notManagedCa': 'The agent\'s certificate was issued by an uploaded (tenant-owned) CA: renewal is for certificates of the tenant\'s managed CA; issue the new certificate with your own CA.',
  'renewal.certificateRevoked': 'The certificate to renew is revoked; issue a new one with POST /agentCertificates.',
  'renewal.commonNameMismatch': 'The CSR\'s CN is not the agent\'s name (the CN of its certificate, the part of its client id after <tenant>_).',
  'renewal.tooSoon': 'The agent renewed its certificate less than an hour ago: at most one renewal per agent per hour; retry at the time given (retryAt).',
  'renewal.inProgress': 'A renewal request of this agent is being handled already; wait for its answer.',

  // MindConnect commanding (REST: /api/commanding/v3/deliveryJobs; docs/commanding.md)
  'deliveryJob.notFound': 'No delivery job with this id in this tenant.',
  'deliveryJob.nameInvalid': 'name must be a string of 1-128 characters, not only white space, without control or invisible formatting characters.',
  'deliveryJob.clientIdsInvalid': 'clientIds must be an array of client ids (strings of 1-256 characters).',
  'deliveryJob.clientIdsEmpty': 'clientIds is empty: a delivery job names at least one agent.',
  'deliveryJob.tooManyClientIds': 'clientIds names more than 20 agents; split the job.',
  'deliveryJob.duplicateClientId': 'clientIds names the same client id more than once.',
  'deliveryJob.agentNotFound': 'A client id in clientIds is not an agent of this tenant (unknown, or another tenant\'s: the answer is the same).',
  'deliveryJob.dataMissing': 'The body has no data: the JSON value the agents receive as the command payload.',
  'deliveryJob.dataTooLarge': 'data is larger than 10 KiB (10,240 bytes) as serialized JSON.',
  'deliveryJob.agentBacklogFull': 'An agent named in clientIds already has the maximum number of undelivered commands (TRUSTGATE_COMMANDS_PENDING_PER_AGENT, default 100).',
  'deliveryJob.dataTooDeep': 'data nests objects and arrays more than 64 levels deep.',
  'deliveryJob.limitInvalid': 'GET /deliveryJobs?limit= must be a whole number from 1 to 500.',
  'deliveryJob.cursorInvalid': 'The cursor is not one GET /deliveryJobs gave this tenant (damaged, hand-made or another tenant\'s).',

  // The broker's own TLS identity (GET /broker-ca.pem)
  'brokerCa.notGenerated': 'The broker uses the operator\'s own TLS certificate (TRUSTGATE_TLS_CERT_FILE), so there is no generated broker root CA: agents trust the CA that issued that certificate.',

  // MQTT connection refusals (logged and counted; answered with a CONNACK code)
  'mqtt.clusterUnavailable': 'This cluster node cannot reach Redis right now (sessions and messages cross it), so it takes no new MQTT connection; connect to another node or retry shortly.',
  'mqtt.credentialsMissing': 'The client sent neither a client certificate nor a token as password.',
  'mqtt.clientIdRequired': 'An empty client id with clean session 0 (MQTT-3.1.3-8): a persistent session needs a client id.',
  'mqtt.willNotAllowed': 'The CONNECT carries a will on a topic this client may not publish to (or a payload over 128 KiB).',
  'mqtt.certificateInvalid': 'The client certificate cannot be read.',
  'mqtt.unknownCa': 'No registered CA certificate issued the agent certificate (unknown, deleted, or an intermediate).',
  'mqtt.caKeyConflict': 'The key that signed the agent certificate is trusted by more than one tenant (data from before one-tenant-per-key was enforced); refused until an operator resolves it.',
  'mqtt.caNotVerified': 'The issuing CA certificate is registered but not verified yet.',
  'mqtt.caExpired': 'The issuing CA certificate is expired or not yet valid.',
  'mqtt.caInvalid': 'The issuing CA certificate (stored by an earlier version) breaks a rule CA uploads are checked against now.',
  'mqtt.certificateExpired': 'The agent certificate is past its notAfter.',
  'mqtt.certificateNotYetValid': 'The agent certificate\'s notBefore is in the future.',
  'mqtt.certificateRevoked': 'The agent certificate was revoked: by its issuer and serial number (DELETE /agentCertificates/{id} for a managed one; POST /caCertificates/{id}/revokedCertificates or the CA\'s imported CRL for an uploaded CA\'s).',
  'mqtt.certificateWeakKey': 'The agent certificate\'s key is not RSA >= 2048 bits or EC P-256/P-384/P-521.',
  'mqtt.certificateWeakSignature': 'The agent certificate\'s signature hash is weaker than SHA-256.',
  'mqtt.certificateIsCa': 'The agent certificate is itself a CA certificate (basicConstraints CA:TRUE).',
  'mqtt.clientAuthNotAllowed': 'The agent certificate has an extendedKeyUsage without clientAuth.',
  'mqtt.commonNameInvalid': 'The agent certificate has no single CN usable in a client id and topic.',
  'mqtt.clientIdMismatch': 'The MQTT client id is not <tenant>_<CN of the agent certificate>.',
  'mqtt.agentDisabled': 'The agent is disabled.',
  'mqtt.applicationClientIdInvalid': 'A tenant application\'s client id must be empty or start with <tenant>_ and not be an agent\'s.',
  'mqtt.tenantMismatch': 'The MQTT user name names another tenant than the token.',
  'mqtt.connectRateLimited': 'Too many CONNECTs of this client id with this certificate (or token) in a short time: slow down (default 1 per second, a small burst); a client refused too often is banned for a while. A limit, never a trust decision (CONNACK 3).',
  'mqtt.clientBanned': 'This client id with this certificate (or token) was refused too often in a short time and is banned for a while (GET /bans; DELETE /bans/{id} lifts it). A limit, never a trust decision (CONNACK 3).',
  'mqtt.tenantConnectionLimitReached': 'The tenant already has the maximum number of connected agents (TRUSTGATE_MQTT_MAX_AGENTS_PER_TENANT); an agent that disconnects frees a place.',
  'mqtt.persistentSessionLimitReached': 'A new persistent session (clean session 0) for a client id the tenant holds no session for, while the tenant already holds the maximum number of persistent sessions; resume an existing one, connect with clean session, or let one expire.',
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof errorCatalogue;

export const errorCodes = Object.keys(errorCatalogue) as ErrorCode[];
