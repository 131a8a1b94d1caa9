import { isTopicSafeLevel } from '../registry/index.ts';
import { isTenantId, type TenantId } from '../shared/index.ts';

// MindConnect's topic tree: tc/<tenant>/<clientId>/o/... is what an agent sends, tc/<tenant>/<clientId>/i/...
// what it receives. Security-critical: every rule compares literal prefixes, so a wildcard can
// only ever stand below the prefix an identity owns. Table-tested in topic-rules.test.ts.

const isWildcardFree = (topic: string): boolean => !topic.includes('+') && !topic.includes('#');

// [MQTT-4.7.3-1] topics are at least one character; [MQTT-4.7.3-2] no NUL. `$` topics ($SYS,
// $share) are never open to tenants.
const isPlainTopic = (topic: string): boolean =>
  topic.length > 0 && !topic.includes('\u0000') && !topic.startsWith('$');

export { isTopicSafeLevel } from '../registry/index.ts';

/** What the rules read of a principal (a BrokerPrincipal is one): also what a message carries as
 *  its publisher (message-publisher.ts). */
export type Publisher =
  | { readonly kind: 'agent'; readonly tenant: TenantId; readonly clientId: string }
  | { readonly kind: 'application'; readonly tenant: TenantId; readonly clientId: string; readonly mayPublish: boolean };

// Fail closed on an identity that could bend a prefix (defence in depth: admission already
// refuses such CNs and tokens): tenant as token rules say, agent client id `<tenant>_<safe CN>`.
const isWellFormed = (principal: Publisher): boolean => {
  if (!isTenantId(principal.tenant)) return false;
  if (principal.kind === 'application') return true;
  return principal.clientId.startsWith(`${principal.tenant}_`) && isTopicSafeLevel(principal.clientId)
    && principal.clientId.length > principal.tenant.length + 1;
};

const SLASH = 0x2f;
const SMALL_I = 0x69;

const hasLevelsBelow = (topic: string, prefix: string): boolean =>
  topic.startsWith(prefix) && topic.length > prefix.length;

/** A publisher's walls as prefixes: a pure function of (kind, tenant, clientId), so computed once
 *  per publisher object, not per message (issue 18). `mayPublish` is read at each call. */
interface Walls {
  readonly kind: Publisher['kind'];
  readonly tenant: string;
  readonly clientId: string;
  readonly isWellFormed: boolean;
  /** Agent: tc/<tenant>/<clientId>/o/; application: tc/<tenant>/ (then <clientId>/i/<more>). */
  readonly publishPrefix: string;
  /** Agent: tc/<tenant>/<clientId>/i/; application: tc/<tenant>/. */
  readonly subscribePrefix: string;
}
const wallsByPublisher = new WeakMap<Publisher, Walls>();
// Used only if the fields they were computed from are still the object's own: a publisher object
// changed after its first check (none is: principals and stamps are never written) is computed afresh.
const wallsOf = (publisher: Publisher): Walls => {
  const cached = wallsByPublisher.get(publisher);
  if (cached !== undefined && cached.kind === publisher.kind && cached.tenant === publisher.tenant && cached.clientId === publisher.clientId) return cached;
  const { kind, tenant, clientId } = publisher;
  const walls: Walls = {
    kind, tenant, clientId, isWellFormed: isWellFormed(publisher),
    publishPrefix: kind === 'agent' ? `tc/${tenant}/${clientId}/o/` : `tc/${tenant}/`,
    subscribePrefix: kind === 'agent' ? `tc/${tenant}/${clientId}/i/` : `tc/${tenant}/`,
  };
  wallsByPublisher.set(publisher, walls);
  return walls;
};

/** The client id the broker's own answers are stamped with (agent-token-requests.ts,
 *  certificate-renewal.ts): no client has it, an application's starts with `<tenant>_` or `aedes_`. */
export const BROKER_PUBLISHER_CLIENT_ID = 'trustgate';

/** Why this principal may not PUBLISH to `topic` (a topic name, never a filter), or undefined if it may. */
export const whyPublishRefused = (principal: Publisher, topic: string): 'topic not allowed' | 'missing scope mcmqtt.admin' | undefined => {
  const walls = wallsOf(principal);
  if (!walls.isWellFormed || !isPlainTopic(topic) || !isWildcardFree(topic)) return 'topic not allowed';
  if (principal.kind === 'agent') return hasLevelsBelow(topic, walls.publishPrefix) ? undefined : 'topic not allowed';
  // tc/<tenant>/<clientId>/i/<at least one more character>: a non-empty client id level, then
  // exactly `i/`, then something (read in place: no split per message).
  if (!topic.startsWith(walls.publishPrefix)) return 'topic not allowed';
  const clientIdEnd = topic.indexOf('/', walls.publishPrefix.length);
  const isAgentInbound = clientIdEnd > walls.publishPrefix.length && topic.charCodeAt(clientIdEnd + 1) === SMALL_I
    && topic.charCodeAt(clientIdEnd + 2) === SLASH && topic.length > clientIdEnd + 3;
  if (!isAgentInbound) return 'topic not allowed';
  // Only the broker answers a token request: an application's forged answer would hand the agent a
  // token of someone else's choosing (security review of decision 0033).
  if (isAgentTokenAnswer(topic) && principal.clientId !== BROKER_PUBLISHER_CLIENT_ID) return 'topic not allowed';
  // The topic is one only mcmqtt.admin may publish to: the token lacks the scope, not the topic the rule.
  return principal.mayPublish ? undefined : 'missing scope mcmqtt.admin';
};

/** May this principal PUBLISH to `topic` (a topic name, never a filter)? */
export const mayPublish = (principal: Publisher, topic: string): boolean => whyPublishRefused(principal, topic) === undefined;

/** May this principal SUBSCRIBE to `filter` (which may hold wildcards, but only below its prefix)? */
export const maySubscribe = (principal: Publisher, filter: string): boolean => {
  const walls = wallsOf(principal);
  return walls.isWellFormed && isPlainTopic(filter) && hasLevelsBelow(filter, walls.subscribePrefix);
};

// An agent's access token answer (agent-token-requests.ts; issue 19 part 1) is a bearer
// credential of that agent: only the agent receives it. A tenant application subscribed to
// tc/<tenant>/# (mcmqtt.read is enough) would otherwise collect every agent's token and act as any
// of its agents towards the services that accept them (security review of decision 0033).
const AGENT_TOKEN_ANSWER = /^tc\/[^/]+\/([^/]+)\/i\/agm_v3\/tr$/;
const AGENT_TOKEN_ANSWER_END = '/i/agm_v3/tr';
// The regex only for a topic with the answer's last levels: one endsWith for every other message.
const isAgentTokenAnswer = (topic: string): boolean => topic.endsWith(AGENT_TOKEN_ANSWER_END) && AGENT_TOKEN_ANSWER.test(topic);

/** The client id of the only one who may receive a message on `topic` (an agent's access token
 *  answer), or undefined for a topic whose receivers the subscriptions and mayReceive decide. */
export const soleReceiverOf = (topic: string): string | undefined =>
  topic.endsWith(AGENT_TOKEN_ANSWER_END) ? AGENT_TOKEN_ANSWER.exec(topic)?.[1] : undefined;

/** May this principal RECEIVE a message on `topic`? Checked again at delivery, so a session
 *  prepared by someone else (persistent subscriptions, queued messages) cannot widen the walls. */
export const mayReceive = (principal: Publisher, topic: string): boolean =>
  isWildcardFree(topic) && maySubscribe(principal, topic) && (principal.kind === 'agent' || !isAgentTokenAnswer(topic));
