import type { RegistryEvent } from '../registry/index.ts';
import { isTenantId } from '../shared/index.ts';

// The wire format of the Redis cluster bus: `{"v":1,"origin":"<node id>","event":{...}}` as JSON.
// Whatever arrives on the channel is untrusted input (any Redis client may PUBLISH there): it is
// bounded, checked field by field, and rebuilt from known fields only before any listener sees it.

export const CLUSTER_BUS_MESSAGE_VERSION = 1;
/** Far above any real message (~300 bytes); longer ones are dropped before parsing. */
export const MAX_CLUSTER_BUS_MESSAGE_CHARS = 4_096;
const MAX_ORIGIN_CHARS = 256;
/** Ids are 24 hex characters, client ids at most 256 (the broker's limit), serial numbers 40 hex. */
const MAX_FIELD_CHARS = 512;

// Rules as data, not code: the string fields each event type carries besides type and
// tenant. The `satisfies` makes the compiler flag a new event type that is missing here.
const EVENT_FIELDS = {
  caCertificateRegistered: ['caCertificateId'],
  caCertificateVerified: ['caCertificateId'],
  caCertificateDeleted: ['caCertificateId'],
  managedCaCreated: ['caCertificateId'],
  agentCertificateRevoked: ['agentCertificateId', 'caCertificateId', 'serialNumber'],
  caRevocationsChanged: ['caCertificateId'],
  agentDisabled: ['agentId', 'clientId'],
  agentDeleted: ['agentId', 'clientId'],
} as const satisfies Record<RegistryEvent['type'], readonly string[]>;

type EventType = keyof typeof EVENT_FIELDS;

// Fields a node older than decision 0013 did not send: its agentCertificateRevoked named the
// certificate by id and DER fingerprint only. Absent, they decode as '' and the receiving node
// reads the revoked record back (registry/sync-trust-index.ts); the old fingerprint is ignored.
const FIELDS_OLD_NODES_OMIT: Partial<Record<EventType, readonly string[]>> = {
  agentCertificateRevoked: ['caCertificateId', 'serialNumber'],
};

export interface ClusterBusMessage {
  readonly origin: string;
  readonly event: RegistryEvent;
}

export type DecodedClusterBusMessage = ({ readonly ok: true } & ClusterBusMessage) | { readonly ok: false; readonly problem: string };

/** Sends the fields the event type declares and nothing else: whatever else an event object may
 *  hold at run time stays on this node (a record travels beside the event, never in it). */
export const encodeClusterBusMessage = (origin: string, event: RegistryEvent): string => {
  const fields: Record<string, string> = { type: event.type, tenant: event.tenant };
  for (const field of EVENT_FIELDS[event.type]) fields[field] = (event as unknown as Record<string, string>)[field]!;
  return JSON.stringify({ v: CLUSTER_BUS_MESSAGE_VERSION, origin, event: fields });
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isBoundedString = (value: unknown, maxChars: number): value is string =>
  typeof value === 'string' && value.length <= maxChars;

const isEventType = (value: unknown): value is EventType =>
  typeof value === 'string' && Object.hasOwn(EVENT_FIELDS, value);

const decodeEvent = (value: unknown): RegistryEvent | string => {
  if (!isRecord(value)) return 'event is not an object';
  if (!isEventType(value.type)) return `unknown event type ${JSON.stringify(String(value.type).slice(0, 64))}`;
  if (!isTenantId(value.tenant)) return 'tenant is not a tenant id';
  const event: Record<string, string> = { type: value.type, tenant: value.tenant };
  const omissible = FIELDS_OLD_NODES_OMIT[value.type] ?? [];
  const isFromOldNode = omissible.every((field) => value[field] === undefined);
  for (const field of EVENT_FIELDS[value.type]) {
    const fieldValue = isFromOldNode && omissible.includes(field) ? '' : value[field];
    if (!isBoundedString(fieldValue, MAX_FIELD_CHARS)) return `${field} is not a string of at most ${MAX_FIELD_CHARS} characters`;
    event[field] = fieldValue;
  }
  // Every field the type declares was checked above; unknown extra fields were not copied.
  return event as unknown as RegistryEvent;
};

/** Parses and validates one message; never throws. */
export const decodeClusterBusMessage = (text: string): DecodedClusterBusMessage => {
  if (text.length > MAX_CLUSTER_BUS_MESSAGE_CHARS) return { ok: false, problem: `longer than ${MAX_CLUSTER_BUS_MESSAGE_CHARS} characters` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (!isRecord(parsed)) return { ok: false, problem: 'not a JSON object' };
  if (parsed.v !== CLUSTER_BUS_MESSAGE_VERSION) return { ok: false, problem: `unsupported version ${String(parsed.v).slice(0, 16)}` };
  if (!isBoundedString(parsed.origin, MAX_ORIGIN_CHARS) || parsed.origin.length === 0) return { ok: false, problem: 'origin is not a node id' };
  const event = decodeEvent(parsed.event);
  if (typeof event === 'string') return { ok: false, problem: event };
  return { ok: true, origin: parsed.origin, event };
};
