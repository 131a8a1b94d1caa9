import { DomainError, showName, type TenantId } from '../shared/index.ts';
import type { AuditEntry } from './audit-trail.ts';

// MindConnect commanding (SPEC "MindConnect commanding, agent tokens, events out", issue 19 part 2,
// docs/commanding.md): a delivery job sends one command to each of 1–20 agents of its tenant. The
// broker publishes each command on tc/<t>/<cid>/i/cmd_v3/c and the agent reports on o/cmd_v3/u.

/** PENDING: stored, not handed to the broker; SENT: published at least once (internal: the API shows
 *  PENDING); DELIVERED: PUBACKed; then the agent's own EXECUTING, EXECUTED, FAILED; or CANCELED
 *  (DELETE of its job before delivery), EXPIRED (not delivered within the expiry). */
export const commandStatuses = ['PENDING', 'SENT', 'DELIVERED', 'EXECUTING', 'EXECUTED', 'FAILED', 'CANCELED', 'EXPIRED'] as const;
export type CommandStatus = (typeof commandStatuses)[number];
export const terminalCommandStatuses: readonly CommandStatus[] = ['EXECUTED', 'FAILED', 'CANCELED', 'EXPIRED'];
/** Not yet acknowledged by the agent: still to be (re)published, still cancellable. */
export const undeliveredCommandStatuses: readonly CommandStatus[] = ['PENDING', 'SENT'];
export const isTerminalCommandStatus = (status: CommandStatus): boolean => terminalCommandStatuses.includes(status);

export type DeliveryJobStatus = 'EXECUTING' | 'EXECUTED' | 'FAILED' | 'CANCELED';

/** The statuses an agent may report (MindConnect's sample agent: EXECUTING, then EXECUTED or FAILED). */
export const agentReportedStatuses = ['EXECUTING', 'EXECUTED', 'FAILED'] as const;
export type AgentReportedStatus = (typeof agentReportedStatuses)[number];

export interface DeliveryJobRecord {
  readonly id: string;
  readonly tenant: TenantId;
  readonly name: string;
  readonly clientIds: readonly string[];
  readonly data: unknown;
  readonly status: DeliveryJobStatus;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface CommandRecord {
  readonly id: string;
  readonly jobId: string;
  readonly tenant: TenantId;
  readonly clientId: string;
  readonly status: CommandStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly expiresAt: Date;
  readonly sentAt: Date | undefined;
  readonly deliveredAt: Date | undefined;
  readonly response: unknown;
  readonly agentTimestamp: string | undefined;
}

/** What the broker publishes: the command with its job's payload. */
export interface CommandToSend {
  readonly id: string;
  readonly jobId: string;
  readonly tenant: TenantId;
  readonly clientId: string;
  readonly createdAt: Date;
  readonly payload: unknown;
}

/** Where a job listing page ends (newest first). */
export interface DeliveryJobPosition {
  readonly createdAt: Date;
  readonly id: string;
}

/** The job's status from its commands' (SPEC): EXECUTING until every command is terminal, then
 *  FAILED if any failed or expired, else EXECUTED; a canceled job stays CANCELED. */
export const jobStatusOf = (isCanceled: boolean, statuses: readonly CommandStatus[]): DeliveryJobStatus => {
  if (isCanceled) return 'CANCELED';
  if (statuses.some((status) => !isTerminalCommandStatus(status))) return 'EXECUTING';
  return statuses.some((status) => status === 'FAILED' || status === 'EXPIRED') ? 'FAILED' : 'EXECUTED';
};

export interface AgentCommandUpdate {
  readonly tenant: TenantId;
  readonly clientId: string;
  readonly commandId: string;
  readonly jobId: string;
  readonly status: AgentReportedStatus;
  /** JSON text, bounded by the caller; undefined = keep the last one. */
  readonly responseJson: string | undefined;
  readonly agentTimestamp: string | undefined;
  readonly at: Date;
}

/** `applied`: the status changed; `unchanged`: a repeat or a step back from a terminal status;
 *  `unknown`: no such command of this tenant, client id and job. */
export type CommandUpdateOutcome = 'applied' | 'unchanged' | 'unknown';

/** A job is refused when one of its agents already has this many undelivered commands (SPEC: no
 *  client can grow the broker's memory without bound; TRUSTGATE_COMMANDS_PENDING_PER_AGENT). */
export const DEFAULT_PENDING_COMMANDS_PER_AGENT = 100;
/** At most this many commands are published per claim; the sweep or the next SUBSCRIBE sends the rest. */
export const MAX_COMMANDS_PER_CLAIM = 100;

export const agentBacklogFull = (clientId: string, maxPending: number): DomainError => new DomainError('deliveryJob.agentBacklogFull',
  `The agent ${showName(clientId)} already has ${maxPending} undelivered command${maxPending === 1 ? '' : 's'}, the maximum. Wait until it takes them, or cancel delivery jobs it has not received yet (DELETE /deliveryJobs/{id}).`);

export interface DeliveryJobStore {
  /** Stores the job and one PENDING command per client id, with the audit entry, atomically; throws
   *  agentBacklogFull (storing nothing) when one of its agents already has `maxPendingPerAgent`
   *  undelivered (PENDING or SENT) commands. Two concurrent inserts cannot both pass at the limit. */
  insert(job: DeliveryJobRecord, commands: readonly CommandRecord[], audit?: AuditEntry, maxPendingPerAgent?: number): Promise<void>;
  /** The tenant's jobs, newest first (ties by id, descending), after `after`, at most `limit`. */
  list(tenant: TenantId, after: DeliveryJobPosition | undefined, limit: number): Promise<DeliveryJobRecord[]>;
  find(tenant: TenantId, id: string): Promise<DeliveryJobRecord | undefined>;
  listCommands(tenant: TenantId, jobId: string): Promise<CommandRecord[]>;
  /** Marks the job CANCELED and its undelivered commands CANCELED; answers the job and the ids of the
   *  commands it canceled that had been published (only those can sit in a queue), or undefined for
   *  an unknown job. Canceling twice changes nothing. */
  cancel(tenant: TenantId, id: string, at: Date, audit?: AuditEntry): Promise<{ job: DeliveryJobRecord; canceledCommandIds: string[] } | undefined>;
  /**
   * Claims the agent's undelivered, unexpired commands for publishing: each is marked SENT at `at`
   * by a conditional update, so two nodes claiming at once publish it once. With `sentBefore`,
   * commands already sent before that instant are claimed again (a fresh session lost them);
   * without, only never-sent ones. Commands in `skip` are left alone (already handed to this agent's connection).
   */
  claimForSending(tenant: TenantId, clientId: string, at: Date, sentBefore?: Date, skip?: ReadonlySet<string>): Promise<CommandToSend[]>;
  /** Claims these commands (by id) if still never sent: the creating node's first publish. */
  claimNew(tenant: TenantId, ids: readonly string[], at: Date): Promise<CommandToSend[]>;
  /** PUBACK: SENT or PENDING → DELIVERED; false when it was not one of those (late, canceled, foreign). */
  markDelivered(tenant: TenantId, clientId: string, commandId: string, at: Date): Promise<boolean>;
  applyAgentUpdate(update: AgentCommandUpdate): Promise<CommandUpdateOutcome>;
  /** Undelivered commands whose expiry passed → EXPIRED (their jobs updated); answers how many. */
  expire(now: Date, batchSize: number): Promise<number>;
  /** Ids of commands canceled at or after `since` (any tenant) that had been published (only those can
   *  sit in a session's queue): every node refuses to forward them. The newest `limit`, oldest first. */
  canceledCommandIdsSince(since: Date, limit: number): Promise<string[]>;
  /** Ids of this agent's published, canceled commands that have not expired yet: loaded as its
   *  persistent session resumes. The newest `limit`, oldest first. */
  canceledCommandIdsFor(tenant: TenantId, clientId: string, now: Date, limit: number): Promise<string[]>;
  /** Deletes up to `batchSize` jobs (with their commands) with nothing left to happen: no command
   *  undelivered, and no change to the job or any of its commands since `before`. Answers how many. */
  pruneSettled(before: Date, batchSize: number): Promise<number>;
  /** Agents with undelivered, unexpired commands never sent or last sent before `sentBefore` (the sweep), at most `limit`. */
  agentsWithUnsentCommands(sentBefore: Date, now: Date, limit: number): Promise<{ tenant: TenantId; clientId: string }[]>;
}
