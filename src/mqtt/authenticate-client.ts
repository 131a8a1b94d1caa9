import { randomUUID, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { grants, type TokenVerifier } from '../auth/index.ts';
import type { Registry } from '../registry/index.ts';
import { DomainError, isDomainError } from '../shared/index.ts';
import { admitWill } from './authorize-will.ts';
import { assertNotExpired } from './session-deadlines.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import type { BrokerMetrics } from './broker-metrics.ts';
import { connackCodeByError } from './connack-codes.ts';
import { peerCertificateOf } from './peer-certificate.ts';
import type { SessionRegistry } from './session-registry.ts';

export interface AuthenticateDependencies {
  readonly registry: Registry;
  readonly tokens: TokenVerifier;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  /** True when the client sent an empty client id and aedes generated one. */
  readonly hasGeneratedClientId: (client: Client) => boolean;
  /** Prefixes session ids (`<nodeId>.<random>`), so a restarting cluster node marks offline only
   *  the agents whose sessions it held. */
  readonly nodeId: string;
  /** False while this node cannot reach its cluster's Redis: a CONNECT is then refused (CONNACK 3) before anything else. */
  readonly isClusterAvailable?: () => boolean;
  /** Told of each admitted connection, just before aedes goes on with its CONNECT (the CONNACK comes later, if ever). */
  readonly onAdmitted?: (client: Client) => void;
}


// A tenant application: no client certificate, its Bearer token as the MQTT password.
const authenticateApplication = async (
  { registry, tokens, hasGeneratedClientId }: AuthenticateDependencies, client: Client, username: string | undefined, password: Buffer,
): Promise<BrokerPrincipal> => {
  const principal = await tokens.verify(password.toString('utf8'));
  if (username && username !== principal.tenant) {
    throw new DomainError('mqtt.tenantMismatch', `The user name "${username}" names another tenant than the token (${principal.tenant}). Leave the user name empty or use the token's tenant.`);
  }
  if (!grants(principal.scopes, 'mcmqtt.read')) {
    throw new DomainError('auth.scopeMissing', 'A tenant application needs a token with scope mcmqtt.read (subscribe) or mcmqtt.admin (also publish to agents).');
  }
  // Client ids are one namespace across tenants; `_` cannot occur in a tenant name, so the
  // `<tenant>_` prefix keeps one tenant from taking over another's sessions. An empty client id
  // gets a random `aedes_<uuid>` from aedes; one a client chose to start with `aedes_` does not count.
  if (!hasGeneratedClientId(client) && (!client.id.startsWith(`${principal.tenant}_`) || await registry.isAgentClientId(principal.tenant, client.id))) {
    throw new DomainError('mqtt.applicationClientIdInvalid', `A tenant application's client id must be empty or start with "${principal.tenant}_" and not be an agent's; "${client.id}" is not allowed.`);
  }
  return {
    kind: 'application', tenant: principal.tenant, clientId: client.id, mayPublish: grants(principal.scopes, 'mcmqtt.admin'),
    ...(principal.subject === undefined ? {} : { subject: principal.subject }),
    ...(principal.expiresAtMs === undefined ? {} : { expiry: { atMs: principal.expiresAtMs, code: 'auth.tokenExpired' } }),
  };
};

const authenticateAgent = async ({ registry, nodeId, logger }: AuthenticateDependencies, client: Client, peerCertificate: X509Certificate): Promise<BrokerPrincipal> => {
  const sessionId = `${nodeId}.${randomUUID().replaceAll('-', '')}`;
  const { agent, tenant, certificateSerialNumber, validUntil, certificateChange } = await registry.admitAgent({
    certificateDer: peerCertificate.raw, peerCertificate, clientId: client.id, sessionId, sourceAddress: (client.conn as Partial<TLSSocket>).remoteAddress,
  });
  // The record follows the certificate the agent connects with: say so when that is another one
  // than it held (renewed, reissued, or from the tenant's other CA), so the switch is never silent.
  if (certificateChange) {
    logger.info({
      clientId: agent.clientId, tenant, agentId: agent.id,
      caCertificateId: agent.caCertificateId, previousCaCertificateId: certificateChange.previousCaCertificateId,
      fingerprint: agent.certificateFingerprintSha256, previousFingerprint: certificateChange.previousFingerprintSha256,
    }, certificateChange.previousCaCertificateId === agent.caCertificateId
      ? 'agent connected with another certificate than its record held; the record now holds it'
      : 'agent connected with a certificate from another CA than its record held; the record now holds it');
  }
  return {
    kind: 'agent', tenant, clientId: agent.clientId, agentId: agent.id, caCertificateId: agent.caCertificateId, certificateSerialNumber, sessionId,
    expiry: { atMs: validUntil.at.getTime(), code: validUntil.code },
  };
};

/** A refused CONNECT's answer, with what the connect limits (connect-guard.ts) count it by: the
 *  catalogue code, and the tenant whose CA issued the presented certificate when that was found. */
export interface CodedRefusal extends AuthenticateError {
  reason?: string;
  issuerTenant?: string;
}

const issuerTenantOf = (error: unknown): string | undefined => {
  const details = isDomainError(error) ? error.details as { issuerTenant?: unknown } | undefined : undefined;
  return typeof details?.issuerTenant === 'string' ? details.issuerTenant : undefined;
};

const CLOSED_DURING_ADMISSION = new Error('the connection closed while it was being admitted');

// aedes `authenticate`: certificate first (agents), else token (applications). Every refusal is
// logged with its code and counted, and answered with the CONNACK code of connack-codes.ts.
export const createAuthenticate = (dependencies: AuthenticateDependencies, sessions: SessionRegistry) =>
  (client: Client, username: string | undefined, password: Buffer | undefined, done: (error: AuthenticateError | null, success: boolean | null) => void): void => {
    const epoch = sessions.epoch;
    const peerCertificate = peerCertificateOf(client);
    // [MQTT-3.1.3-8] an empty client id with clean session 0: CONNACK 2 (a session nobody could resume or clean).
    // Checked first: nothing is admitted (no agent recorded online) that could not be answered.
    const attempt = dependencies.isClusterAvailable?.() === false
      ? Promise.reject(new DomainError('mqtt.clusterUnavailable', 'This node cannot reach Redis right now: connect to another node of the cluster, or retry shortly.'))
      : dependencies.hasGeneratedClientId(client) && client.clean === false
      ? Promise.reject(new DomainError('mqtt.clientIdRequired', 'An empty client id needs clean session (MQTT-3.1.3-8): choose a client id to keep a persistent session, or connect with clean session.'))
      : peerCertificate
        ? authenticateAgent(dependencies, client, peerCertificate)
        : password && password.length > 0
          ? authenticateApplication(dependencies, client, username, password)
          : Promise.reject(new DomainError('mqtt.credentialsMissing', 'Connect with an agent certificate (mutual TLS) or, as a tenant application, with a Bearer token as the password.'));
    const admitted = attempt.then((principal) => {
      let refusal: unknown;
      try {
        assertNotExpired(principal, Date.now());
        admitWill(client, principal);
      } catch (error) {
        refusal = error;
      }
      // aedes ignores the answer for a client that closed meanwhile: it never registers it, so no
      // `clientDisconnect` would ever detach what is attached here (a ghost session per dropped
      // CONNECT, and an agent recorded online for ever).
      if (refusal === undefined && (client as { closed?: boolean }).closed === true) refusal = CLOSED_DURING_ADMISSION;
      if (refusal === undefined && !sessions.attach(client, principal, epoch)) {
        refusal = new DomainError(principal.kind === 'agent' ? 'mqtt.unknownCa' : 'auth.tokenInvalid', 'Trust was withdrawn while the connection was being admitted.');
      }
      if (refusal !== undefined) {
        // The admission already recorded the agent as online with this session.
        if (principal.kind === 'agent') void dependencies.registry.recordAgentDisconnection(principal.tenant, principal.agentId, principal.sessionId).catch(() => undefined);
        throw refusal;
      }
      return principal;
    });
    // Exactly one callback, whatever happens: aedes waits for it, and a second one would answer twice.
    // "accepted" is logged and counted once the CONNACK is written (connack-bound.ts), not here:
    // aedes still has Redis round trips to make, and a CONNECT may never be answered.
    admitted.then(() => {
      dependencies.onAdmitted?.(client);
      done(null, true);
    }, (error: unknown) => {
      if (error === CLOSED_DURING_ADMISSION) {
        dependencies.logger.debug({ clientId: client.id }, 'mqtt connection closed while it was being admitted');
        return done(error as AuthenticateError, false);
      }
      const code = isDomainError(error) ? error.code : 'internal';
      if (!isDomainError(error)) dependencies.logger.error({ err: error, clientId: client.id }, 'mqtt authentication failed unexpectedly');
      dependencies.metrics.refusals.labels(code).inc();
      dependencies.logger.warn({ clientId: client.id, reason: code, detail: isDomainError(error) ? error.message : undefined, remoteAddress: (client.conn as Partial<TLSSocket>).remoteAddress }, 'mqtt connection refused');
      const refusal = new Error(isDomainError(error) ? error.message : 'not authorized') as CodedRefusal;
      refusal.returnCode = connackCodeByError[code];
      refusal.reason = code;
      const issuerTenant = issuerTenantOf(error);
      if (issuerTenant !== undefined) refusal.issuerTenant = issuerTenant;
      done(refusal, false);
    });
  };
