import { Type, type Static } from 'typebox';
import {
  MAX_CLIENT_IDS_PER_JOB, MAX_JOB_DATA_BYTES, MAX_JOB_NAME_LENGTH, type CommandRecord, type DeliveryJobPage, type DeliveryJobRecord,
} from '../../registry/index.ts';

// The Commanding API's shapes (SPEC "MindConnect commanding"; MindConnect's commanding v3 sample:
// POST {name, clientIds, data[, createdBy]} → {id, name, clientIds, tenantId, status, …}). The body
// schema checks types only: limits (1–20 distinct client ids, 10 KiB of data, 1–128 characters of
// name) are the use case's, each with its own error code rather than the generic request.invalid.

export const CreateDeliveryJobBody = Type.Object({
  name: Type.String({ description: `1 to ${MAX_JOB_NAME_LENGTH} characters` }),
  clientIds: Type.Array(Type.String(), { description: `1 to ${MAX_CLIENT_IDS_PER_JOB} distinct client ids of this tenant's agents` }),
  data: Type.Unknown({ description: `Any JSON value up to ${MAX_JOB_DATA_BYTES} bytes serialized: the agents receive it as data.payload` }),
  createdBy: Type.Optional(Type.String({ maxLength: 256, description: 'Accepted for MindConnect compatibility and ignored: the creator is the token\'s subject' })),
}, { additionalProperties: false });

export const DeliveryJobQuery = Type.Object({
  limit: Type.Optional(Type.String({ maxLength: 16, description: 'Jobs per page, 1 to 500 (default 50)' })),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: 'nextCursor of the previous page, as is' })),
}, { additionalProperties: false });

const jobStatus = Type.Union([Type.Literal('EXECUTING'), Type.Literal('EXECUTED'), Type.Literal('FAILED'), Type.Literal('CANCELED')]);
const commandStatus = Type.Union([
  Type.Literal('PENDING'), Type.Literal('DELIVERED'), Type.Literal('EXECUTING'), Type.Literal('EXECUTED'), Type.Literal('FAILED'), Type.Literal('CANCELED'), Type.Literal('EXPIRED'),
]);
const nullableString = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

export const DeliveryJobResource = Type.Object({
  id: Type.String(),
  name: Type.String(),
  clientIds: Type.Array(Type.String()),
  tenantId: Type.String(),
  data: Type.Unknown(),
  status: jobStatus,
  createdBy: Type.String({ description: 'The creating token\'s subject' }),
  createdAt: Type.String({ description: 'ISO 8601 UTC' }),
  updatedAt: Type.String({ description: 'ISO 8601 UTC: the last status change' }),
});

export const DeliveryJobPageResource = Type.Object({
  deliveryJobs: Type.Array(DeliveryJobResource, { description: 'Newest first' }),
  nextCursor: nullableString('Pass as cursor for the next (older) page; null on the last page'),
});

export const CommandResource = Type.Object({
  id: Type.String({ description: 'The command id: "id" of the message on i/cmd_v3/c, "requestId" (or "id") of the agent\'s updates' }),
  jobId: Type.String(),
  clientId: Type.String(),
  status: commandStatus,
  createdAt: Type.String(),
  updatedAt: Type.String(),
  expiresAt: Type.String({ description: 'An undelivered command becomes EXPIRED then (TRUSTGATE_COMMAND_EXPIRY_MS)' }),
  deliveredAt: nullableString('When the agent acknowledged it (PUBACK) or first reported on it'),
  response: Type.Unknown({ description: 'The agent\'s last "response" object, or null' }),
  agentTimestamp: nullableString('The "timestamp" of the agent\'s last update'),
});

export const CommandListResource = Type.Object({ commands: Type.Array(CommandResource) });

export const toDeliveryJobResource = (job: DeliveryJobRecord): Static<typeof DeliveryJobResource> => ({
  id: job.id, name: job.name, clientIds: [...job.clientIds], tenantId: job.tenant, data: job.data, status: job.status, createdBy: job.createdBy,
  createdAt: job.createdAt.toISOString(), updatedAt: job.updatedAt.toISOString(),
});

export const toDeliveryJobPageResource = ({ deliveryJobs, nextCursor }: DeliveryJobPage): Static<typeof DeliveryJobPageResource> => ({
  deliveryJobs: deliveryJobs.map(toDeliveryJobResource), nextCursor: nextCursor ?? null,
});

export const toCommandListResource = (commands: readonly CommandRecord[]): Static<typeof CommandListResource> => ({
  commands: commands.map((command) => ({
    id: command.id, jobId: command.jobId, clientId: command.clientId,
    // SENT is the broker's bookkeeping (published, not acknowledged): PENDING to the caller.
    status: command.status === 'SENT' ? 'PENDING' : command.status,
    createdAt: command.createdAt.toISOString(), updatedAt: command.updatedAt.toISOString(), expiresAt: command.expiresAt.toISOString(),
    deliveredAt: command.deliveredAt?.toISOString() ?? null, response: command.response ?? null, agentTimestamp: command.agentTimestamp ?? null,
  })),
});
