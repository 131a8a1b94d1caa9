import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import { agentContext, type IssueAgentToken } from '../registry/index.ts';
import { DomainError, isDomainError, type TenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import { stampPublisher } from './message-publisher.ts';
import type { SessionRegistry } from './session-registry.ts';
import { BROKER_PUBLISHER_CLIENT_ID } from './topic-rules.ts';

// Agent access tokens over MQTT (SPEC "MindConnect commanding, agent tokens, events out"; issue 19
// part 1; MindConnect MQTT "agent token": the sample agent mindsphere/mindconnect-mqtt publishes
// {"id"} with QoS 0 to tc/<tenant>/<clientId>/o/agm_v3/t and reads data.access_token from
// i/agm_v3/tr). Answer: {"id", "correlationId", "requestId", "data": {"access_token",
// "token_type", "expires_in", "scope", "jti", "timestamp"}}, or {"id", "error": {"code",
// "message", "retryAt"?}} on the same topic.
//
// The same shape as certificate-renewal.ts: the node that receives the PUBLISH handles it; the
// request is consumed after `authorizePublish` accepted it (an agent reaches only its own o/
// topic), never forwarded, retained or queued — no tenant application sees it, and no application
// can ask: only a live agent session on its own topic is answered. The answer enters through
// `broker.publish`, stamped with a publisher the topic rules allow on the agent's i/ topic.

const REQUEST_TOPIC = /^tc\/[^/]+\/[^/]+\/o\/agm_v3\/t$/;
// Every PUBLISH passes here: one endsWith, and the regex only for a topic with the request's last levels.
export const isAgentTokenRequestTopic = (topic: unknown): boolean => typeof topic === 'string' && topic.endsWith('/o/agm_v3/t') && REQUEST_TOPIC.test(topic);
export const agentTokenRequestTopic = (tenant: string, clientId: string): string => `tc/${tenant}/${clientId}/o/agm_v3/t`;
export const agentTokenReplyTopic = (tenant: string, clientId: string): string => `tc/${tenant}/${clientId}/i/agm_v3/tr`;

const MAX_REQUEST_ID_LENGTH = 256;

/** Why a request got no token, for the metric (bounded: the error codes below, and `internal`). */
export type AgentTokenOutcome = 'issued' | 'requestInvalid' | 'rateLimited' | 'internal';
export const agentTokenOutcomes: readonly AgentTokenOutcome[] = ['issued', 'requestInvalid', 'rateLimited', 'internal'];

type AgentPrincipal = Extract<BrokerPrincipal, { kind: 'agent' }>;
type Publish = (packet: { readonly topic: string }, client?: Client | null | ((error?: Error) => void), done?: (error?: Error) => void) => void;

export interface AgentTokenRequestDependencies {
  readonly issueAgentToken: IssueAgentToken;
  readonly sessions: SessionRegistry;
  readonly logger: Logger;
  readonly onOutcome?: (outcome: AgentTokenOutcome) => void;
}

const invalidRequest = (why: string): DomainError => new DomainError('agentToken.requestInvalid',
  `The agent token request ${why}. Publish {"id": "<request id>"} (UTF-8 JSON) to tc/<tenant>/<clientId>/o/agm_v3/t.`);

/** The request's id (a non-empty string of at most 256 characters), or a coded refusal. */
const readRequestId = (payload: unknown): string => {
  let request: unknown;
  try {
    request = JSON.parse(Buffer.isBuffer(payload) ? payload.toString('utf8') : String(payload));
  } catch {
    throw invalidRequest('is not JSON');
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)) throw invalidRequest('is not a JSON object');
  const { id } = request as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_REQUEST_ID_LENGTH) throw invalidRequest(`has no "id" (a string of 1-${MAX_REQUEST_ID_LENGTH} characters)`);
  return id;
};

// The broker's answers: published as from a tenant application, which the rules allow on any of the tenant's i/ topics.
const brokerPublisher = (tenant: TenantId): BrokerPrincipal => ({ kind: 'application', tenant, clientId: BROKER_PUBLISHER_CLIENT_ID, mayPublish: true });

const outcomeOf = (error: DomainError | undefined): AgentTokenOutcome => {
  if (error?.code === 'agentToken.requestInvalid') return 'requestInvalid';
  if (error?.code === 'agentToken.rateLimited') return 'rateLimited';
  return 'internal';
};

/** Installs the handler on a broker created by `Aedes.createBroker`, outside the message walls. */
export const installAgentTokenRequests = (broker: Aedes, { issueAgentToken, sessions, logger, onOutcome }: AgentTokenRequestDependencies): void => {
  // One request of an agent at a time on this node: a burst before the first answer costs one limit check.
  const inFlight = new Set<string>();
  // The minute's refusal an agent got, reused on this node until its retryAt (the limit's slot
  // cannot free up earlier): a flood within the minute (up to the per-agent publish rate) costs no
  // limit round trip (Redis in a cluster) and no info log line per request (security review of
  // decision 0033). Bounded by the agents refused within a minute; expired ones dropped as met.
  const refusedUntil = new Map<string, { readonly atMs: number; readonly error: DomainError }>();
  const rememberRefusal = (key: string, error: DomainError, retryAt: unknown): void => {
    const atMs = typeof retryAt === 'string' ? Date.parse(retryAt) : Number.NaN;
    if (error.code !== 'agentToken.rateLimited' || !Number.isFinite(atMs)) return;
    refusedUntil.set(key, { atMs, error });
    if (refusedUntil.size > 1024) for (const [each, { atMs: until }] of refusedUntil) if (until <= Date.now()) refusedUntil.delete(each);
  };
  const publish = (broker.publish as Publish).bind(broker);

  const reply = (principal: AgentPrincipal, body: Record<string, unknown>): void => {
    const packet = {
      cmd: 'publish' as const, topic: agentTokenReplyTopic(principal.tenant, principal.clientId), payload: Buffer.from(JSON.stringify(body)),
      qos: 1 as const, retain: false, dup: false,
    };
    stampPublisher(packet, brokerPublisher(principal.tenant));
    publish(packet, null, (error?: Error) => {
      if (error) logger.warn({ err: error.message, clientId: principal.clientId }, 'could not publish an agent token answer');
    });
  };

  const handle = async (principal: AgentPrincipal, payload: unknown, sourceAddress: string | undefined): Promise<void> => {
    let id: string | null = null;
    const key = `${principal.tenant}/${principal.clientId}`;
    let isHolding = false;
    let isRepeated = false;
    try {
      id = readRequestId(payload);
      const refused = refusedUntil.get(key);
      if (refused !== undefined && refused.atMs > Date.now()) {
        isRepeated = true;
        throw refused.error;
      }
      if (refused !== undefined) refusedUntil.delete(key);
      if (inFlight.has(key)) throw new DomainError('agentToken.rateLimited', 'A token request of this agent is being handled already: wait for its answer on i/agm_v3/tr.');
      inFlight.add(key);
      isHolding = true;
      const grant = await issueAgentToken({ tenant: principal.tenant, clientId: principal.clientId }, agentContext(principal.clientId, sourceAddress));
      logger.info({ clientId: principal.clientId, tenant: principal.tenant, jti: grant.jti, kid: grant.kid }, 'agent access token issued over MQTT');
      onOutcome?.('issued');
      // MindConnect's answer names the request three ways; trustgate echoes the request's id in each.
      reply(principal, {
        id, correlationId: id, requestId: id,
        data: {
          access_token: grant.accessToken, token_type: grant.tokenType, expires_in: grant.expiresInSeconds, scope: grant.scope, jti: grant.jti,
          timestamp: grant.issuedAt.toISOString(),
        },
      });
    } catch (error) {
      const domainError = isDomainError(error) ? error : undefined;
      const retryAt = (domainError?.details as { retryAt?: unknown } | undefined)?.retryAt;
      onOutcome?.(outcomeOf(domainError));
      if (domainError && !isRepeated) rememberRefusal(key, domainError, retryAt);
      if (domainError) logger[isRepeated ? 'debug' : 'info']({ clientId: principal.clientId, tenant: principal.tenant, reason: domainError.code }, 'agent access token refused');
      else logger.error({ err: error, clientId: principal.clientId, tenant: principal.tenant }, 'agent access token failed');
      reply(principal, {
        id,
        error: domainError
          ? { code: domainError.code, message: domainError.message, ...(typeof retryAt === 'string' ? { retryAt } : {}) }
          : { code: 'internal', message: 'The token could not be issued; details are in the server log. Retry later.' },
      });
    } finally {
      if (isHolding) inFlight.delete(key);
    }
  };

  (broker as unknown as { publish: Publish }).publish = (packet, client, done) => {
    const callback = typeof client === 'function' ? client : done;
    const sender = typeof client === 'function' ? null : client ?? null;
    if (!isAgentTokenRequestTopic(packet.topic)) return publish(packet, sender, callback);
    // Consumed: acknowledged (a QoS 1 PUBACK is already written; the sample agent uses QoS 0) and handled apart.
    callback?.();
    const principal = sender && !sender.closed ? sessions.principalOf(sender) : undefined;
    if (principal?.kind !== 'agent' || packet.topic !== agentTokenRequestTopic(principal.tenant, principal.clientId)) {
      // A will, an application's publish (the rules let applications write only i/ topics), or a
      // message of a node that stopped: no live agent to answer.
      logger.debug({ topic: packet.topic.slice(0, 256) }, 'dropped an agent token request without a live agent session');
      return;
    }
    handle(principal, (packet as { payload?: unknown }).payload, (sender?.conn as Partial<Socket> | undefined)?.remoteAddress)
      .catch((error: unknown) => logger.error({ err: error, clientId: principal.clientId }, 'agent token handler failed'));
  };
};
