import { agentReportedStatuses, type AgentReportedStatus, type CommandToSend } from '../registry/index.ts';
import { isJsonDeeperThan, MAX_JSON_DEPTH } from '../shared/index.ts';

// The commanding topics and payloads (SPEC "MindConnect commanding"; the public sample agent
// mindsphere/mindconnect-mqtt MindConnectClient.py is the reference client): a command goes to
// tc/<t>/<cid>/i/cmd_v3/c as {"id": <command id>, "data": {"jobId", "createdAt", "payload"}};
// the agent answers on tc/<t>/<cid>/o/cmd_v3/u with {"id", "data": {"timestamp", "jobId", "status",
// "response"}}. The sample agent gives its update a NEW uuid as "id" and the command's id as
// "requestId": the command is matched by requestId when present, else by id (SPEC's shape).

const COMMAND_TOPIC = /^tc\/[^/]+\/[^/]+\/i\/cmd_v3\/c$/;
const UPDATE_TOPIC = /^tc\/[^/]+\/[^/]+\/o\/cmd_v3\/u$/;
export const commandTopic = (tenant: string, clientId: string): string => `tc/${tenant}/${clientId}/i/cmd_v3/c`;
export const commandUpdateTopic = (tenant: string, clientId: string): string => `tc/${tenant}/${clientId}/o/cmd_v3/u`;
// Every message (and every delivery) passes these: one endsWith, the regex only for a topic that ends as theirs.
export const isCommandTopic = (topic: unknown): topic is string => typeof topic === 'string' && topic.endsWith('/i/cmd_v3/c') && COMMAND_TOPIC.test(topic);
export const isCommandUpdateTopic = (topic: unknown): topic is string => typeof topic === 'string' && topic.endsWith('/o/cmd_v3/u') && UPDATE_TOPIC.test(topic);

/** The agent's last `response` is kept up to this size (serialized); a larger one is replaced by a note. */
export const MAX_RESPONSE_BYTES = 4096;
const MAX_ID_LENGTH = 256;

export const commandPayloadOf = (command: CommandToSend): Buffer => Buffer.from(JSON.stringify({
  id: command.id,
  data: { jobId: command.jobId, createdAt: command.createdAt.toISOString(), payload: command.payload },
}));

const payloadBytesOf = (payload: unknown): number => (Buffer.isBuffer(payload) ? payload.length : typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : 0);
const textOf = (payload: unknown): string => (Buffer.isBuffer(payload) ? payload.toString('utf8') : typeof payload === 'string' ? payload : '');

/** The command id of a message on i/cmd_v3/c, or undefined when it is not one of ours. */
export const commandIdOf = (payload: unknown): string | undefined => commandFactsOf(payload)?.id;

/** The id and creation time (ms; NaN when absent) of a message on i/cmd_v3/c, or undefined when it has no id. */
export const commandFactsOf = (payload: unknown): { id: string; createdAtMs: number } | undefined => {
  try {
    const message = JSON.parse(textOf(payload)) as { id?: unknown; data?: { createdAt?: unknown } } | null;
    if (typeof message?.id !== 'string') return undefined;
    const createdAt = message.data?.createdAt;
    return { id: message.id, createdAtMs: typeof createdAt === 'string' ? Date.parse(createdAt) : Number.NaN };
  } catch {
    return undefined;
  }
};

export interface ParsedCommandUpdate {
  readonly commandId: string;
  readonly jobId: string;
  readonly status: AgentReportedStatus;
  readonly responseJson: string | undefined;
  readonly timestamp: string | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;

/** Reads an update, or says why it is ignored (logged; the agent gets no error: SPEC). */
export const parseCommandUpdate = (payload: unknown): ParsedCommandUpdate | { readonly ignored: string } => {
  let message: unknown;
  try {
    message = JSON.parse(textOf(payload));
  } catch {
    return { ignored: 'not JSON' };
  }
  if (!isObject(message) || !isObject(message.data)) return { ignored: 'not {"id", "data": {…}}' };
  const commandId = message.requestId ?? message.id;
  if (!isId(commandId)) return { ignored: 'no command id ("requestId" or "id")' };
  const { jobId, status, response, timestamp } = message.data;
  if (!isId(jobId)) return { ignored: 'no data.jobId' };
  if (typeof status !== 'string' || !(agentReportedStatuses as readonly string[]).includes(status)) return { ignored: `data.status is not one of ${agentReportedStatuses.join(', ')}` };
  let responseJson: string | undefined;
  if (response !== undefined) {
    // Too deep to serialize safely (JSON.stringify throws RangeError on 120 kB of "[[[…]]]", which
    // lost the update): the note gives the payload's size instead.
    responseJson = isJsonDeeperThan(response, MAX_JSON_DEPTH) ? undefined : JSON.stringify(response);
    const bytes = responseJson === undefined ? payloadBytesOf(payload) : Buffer.byteLength(responseJson, 'utf8');
    if (responseJson === undefined || bytes > MAX_RESPONSE_BYTES) responseJson = JSON.stringify({ truncated: true, bytes });
  }
  return { commandId, jobId, status: status as AgentReportedStatus, responseJson, timestamp: typeof timestamp === 'string' ? timestamp.slice(0, 64) : undefined };
};
