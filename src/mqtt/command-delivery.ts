import type { EventEmitter } from 'node:events';
import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';
import type { CommandDispatch, CommandToSend, DeliveryJobStore } from '../registry/index.ts';
import type { TenantId } from '../shared/index.ts';
import type { BrokerPrincipal } from './broker-principal.ts';
import type { CanceledCommands } from './canceled-commands.ts';
import { commandPayloadOf, commandTopic, commandIdOf, isCommandTopic, isCommandUpdateTopic, parseCommandUpdate } from './command-messages.ts';
import { onClientGone } from './client-lifecycle.ts';
import { stampedPublisherOf, stampPublisher } from './message-publisher.ts';
import type { SessionRegistry } from './session-registry.ts';

// Delivery of MindConnect commands (issue 19 part 2, docs/decisions/0034-command-delivery.md).
// Commands are rows; this node publishes through `broker.publish` (stamped as from the tenant, so
// every topic wall applies, as certificate-renewal.ts does) and follows them:
// - a job's new commands are published at once by the node that created them (claimed first: one
//   conditional UPDATE, so no other node publishes the same one at the same time);
// - a SUBSCRIBE of an agent that covers its i/cmd_v3/c re-sends its undelivered commands: all of
//   them sent before now on a fresh session (sessionPresent 0: nothing was queued for it), only
//   never-sent ones on a resumed session (aedes replays its own queue);
// - a PUBACK moves the command to DELIVERED ('ack' on the agent's node);
// - updates on o/cmd_v3/u move it on (never back), for this tenant, client id and job only;
// - a sweep re-sends what the route propagation between nodes may have lost (a command this node
//   never handed to the agent's connection: one merely slow to PUBACK is not sent twice), expires
//   commands, and learns the other nodes' cancellations.

type AgentPrincipal = Extract<BrokerPrincipal, { kind: 'agent' }>;
type Publish = (packet: object, client: Client | null, done: (error?: Error) => void) => void;

export interface CommandDeliverySettings {
  /** TRUSTGATE_COMMAND_EXPIRY_MS: undelivered commands expire after it (the store holds each one's expiresAt). */
  readonly expiryMs: number;
  /** How often the sweep runs (TRUSTGATE_COMMAND_SWEEP_MS). */
  readonly sweepMs: number;
  /** A command sent this long ago that this node never handed to its connected, subscribed agent
   *  (lost while a new subscription's route reached the other nodes) is sent again. */
  readonly resendAfterMs: number;
}

export interface CommandDeliveryDependencies {
  readonly jobs: DeliveryJobStore;
  readonly sessions: SessionRegistry;
  readonly canceled: CanceledCommands;
  readonly logger: Logger;
  readonly settings: CommandDeliverySettings;
  readonly now?: () => Date;
}

export interface CommandDelivery extends CommandDispatch {
  /** From `authorizeForward`: this message goes to this client now (the sweep never re-sends it to
   *  that connection). Answers the packet to deliver: to a clean session, a command with its packet
   *  id chosen here, so that its PUBACK can be told apart (see cleanInflight). */
  forwarded<P extends { readonly topic: string; readonly payload?: unknown; readonly qos?: number }>(client: Client, packet: P): P;
  /** Before a persistent session resumes: learns the agent's canceled commands (its queue may hold copies). */
  beforeResume(principal: AgentPrincipal): Promise<void>;
  close(): void;
}

const SWEEP_BATCH = 500;
/** Command ids remembered per connection as handed to it; a connection past this many starts over. */
const FORWARDED_PER_CLIENT = 1000;
/** Distinct updates remembered per connection; past this many it starts over. */
const UPDATES_SEEN_PER_CLIENT = 1000;
const BROKER_CLIENT_ID = 'trustgate';
const brokerPublisher = (tenant: TenantId): BrokerPrincipal => ({ kind: 'application', tenant, clientId: BROKER_CLIENT_ID, mayPublish: true });
/** Whether trustgate itself published this message: a tenant application may publish on an agent's
 *  i/cmd_v3/c too (SPEC: admin scope), even with a real command's id, but its copy is not the
 *  command — neither its PUBACK (DELIVERED) nor its forwarding (no re-send) may count. An
 *  application's client id is `<tenant>_…` or `aedes_…` (authenticate-client.ts), never this one,
 *  and every accepted message carries its publisher's stamp (message-publisher.ts). */
const isFromBroker = (packet: object): boolean => {
  const publisher = stampedPublisherOf(packet);
  return publisher?.kind === 'application' && publisher.clientId === BROKER_CLIENT_ID;
};
const keyOf = (tenant: string, clientId: string): string => `${tenant}/${clientId}`;

/** Does this subscription filter cover `topic`? ([MQTT-4.7.1] wildcards: + one level, # the rest.) */
const covers = (filter: string, topic: string): boolean => {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  for (let i = 0; i < filterLevels.length; i += 1) {
    if (filterLevels[i] === '#') return true;
    if (i >= topicLevels.length || (filterLevels[i] !== '+' && filterLevels[i] !== topicLevels[i])) return false;
  }
  return filterLevels.length === topicLevels.length;
};

export const installCommandDelivery = (broker: Aedes, deps: CommandDeliveryDependencies): CommandDelivery => {
  const { jobs, sessions, canceled, logger, settings } = deps;
  const now = deps.now ?? (() => new Date());
  const publish = (broker.publish as unknown as Publish).bind(broker);
  /** This node's agents subscribed to their command topic. */
  const subscribed = new Map<string, Client>();
  /** The commands each connection was handed (authorizeForward said yes): slow to PUBACK is not lost. */
  const handedOver = new WeakMap<Client, Set<string>>();
  /** Commands in flight to clean sessions, by packet id: aedes keeps no outgoing store for a clean
   *  session, so its PUBACK reached the 'ack' event without the packet and DELIVERED was never
   *  recorded — and the agent's next fresh session got every acknowledged command again. */
  const cleanInflight = new WeakMap<Client, Map<number, object>>();
  const { persistence } = broker as unknown as { persistence: { outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<unknown> } };
  const clearMessageId = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = (client, packet) => {
    // Every PUBACK comes here: a connection never handed a command as a clean session (almost
    // all; its map is made before the command is written, so before its PUBACK) goes straight through.
    if (!client.clean || packet.messageId === undefined || !cleanInflight.has(client)) return clearMessageId(client, packet);
    return clearMessageId(client, packet).then((stored) => {
      const inflight = stored === undefined ? cleanInflight.get(client) : undefined;
      const ours = inflight?.get(packet.messageId!);
      if (ours === undefined) return stored;
      inflight!.delete(packet.messageId!);
      return ours;
    });
  };
  /** The updates each connection sent (command, job, status): a repeat is not applied again. */
  const updatesSeen = new WeakMap<Client, Set<string>>();

  const send = (commands: readonly CommandToSend[]): void => {
    for (const command of commands) {
      const packet = { cmd: 'publish' as const, topic: commandTopic(command.tenant, command.clientId), payload: commandPayloadOf(command), qos: 1 as const, retain: false, dup: false };
      stampPublisher(packet, brokerPublisher(command.tenant));
      publish(packet, null, (error?: Error) => {
        if (error) logger.warn({ err: error.message, commandId: command.id, clientId: command.clientId }, 'could not publish a command');
      });
      logger.info({ commandId: command.id, deliveryJobId: command.jobId, clientId: command.clientId, tenant: command.tenant }, 'command published');
    }
  };
  const claimAndSend = (tenant: TenantId, clientId: string, sentBefore: Date | undefined): Promise<void> =>
    jobs.claimForSending(tenant, clientId, now(), sentBefore).then(send)
      .catch((error: unknown) => logger.error({ err: error, clientId }, 'could not read the agent\'s pending commands'));

  const agentOf = (client: Client | null | undefined): AgentPrincipal | undefined => {
    const principal = client ? sessions.principalOf(client) : undefined;
    return principal?.kind === 'agent' ? principal : undefined;
  };

  // A resumed session's subscriptions are restored (with a 'subscribe' event) before its CONNACK;
  // aedes then replays its queue: every command sent to it before is there.
  const connacked = new WeakSet<Client>();
  const resumed = new WeakSet<Client>();
  broker.on('connackSent', (packet: { sessionPresent?: boolean }, client: Client) => {
    connacked.add(client);
    if (packet.sessionPresent === true) resumed.add(client);
  });

  broker.on('subscribe', (subscriptions: { topic: string; qos: number }[], client: Client) => {
    const agent = agentOf(client);
    if (!agent) return;
    const topic = commandTopic(agent.tenant, agent.clientId);
    if (!subscriptions.some((subscription) => covers(subscription.topic, topic))) return;
    if (!connacked.has(client)) resumed.add(client);
    const key = keyOf(agent.tenant, agent.clientId);
    const isFirst = subscribed.get(key) !== client;
    subscribed.set(key, client);
    // Everything sent before now again only on the first covering SUBSCRIBE of a fresh session (no
    // queue held those copies); otherwise only never-sent commands (the rest are queued, or went
    // through this subscription).
    void claimAndSend(agent.tenant, agent.clientId, isFirst && !resumed.has(client) ? now() : undefined);
  });

  // Not aedes' 'clientDisconnect': it does not come for every connection (client-lifecycle.ts).
  onClientGone(broker, (client: Client) => {
    const agent = agentOf(client);
    if (agent && subscribed.get(keyOf(agent.tenant, agent.clientId)) === client) subscribed.delete(keyOf(agent.tenant, agent.clientId));
  });

  // PUBACK of a QoS 1 delivery: aedes hands back the packet it sent.
  (broker as unknown as EventEmitter).on('ack', (packet: { topic?: unknown; payload?: unknown } | undefined, client: Client) => {
    const agent = agentOf(client);
    if (!agent || !packet || packet.topic !== commandTopic(agent.tenant, agent.clientId) || !isFromBroker(packet)) return;
    const id = commandIdOf(packet.payload);
    if (id === undefined) return;
    jobs.markDelivered(agent.tenant, agent.clientId, id, now())
      .then((isDelivered) => { if (isDelivered) logger.info({ commandId: id, clientId: agent.clientId, tenant: agent.tenant }, 'command delivered'); })
      .catch((error: unknown) => logger.error({ err: error, commandId: id }, 'could not record a command as delivered'));
  });

  // Status updates: the topic walls let an agent publish only below its own o/, so the topic names
  // the tenant and client id; the store checks that the command is theirs and of that job.
  broker.on('publish', (packet: { topic: string; payload?: unknown }, client: Client | null) => {
    if (!isCommandUpdateTopic(packet.topic)) return;
    const agent = agentOf(client);
    if (!agent || packet.topic !== `tc/${agent.tenant}/${agent.clientId}/o/cmd_v3/u`) return;
    const update = parseCommandUpdate(packet.payload);
    if ('ignored' in update) {
      logger.info({ clientId: agent.clientId, tenant: agent.tenant, reason: update.ignored }, 'command update ignored');
      return;
    }
    // A repeat of an update this connection already sent can change nothing (statuses only move
    // forward; an unknown command stays unknown), so it costs no transaction and no log line: an
    // agent repeating one update at its publish rate (100/s) held the database's one SQLite
    // connection for each.
    const key = `${update.commandId}\u0000${update.jobId}\u0000${update.status}`;
    let seen = updatesSeen.get(client!);
    if (seen?.has(key)) return;
    if (!seen || seen.size >= UPDATES_SEEN_PER_CLIENT) updatesSeen.set(client!, seen = new Set());
    seen.add(key);
    jobs.applyAgentUpdate({
      tenant: agent.tenant, clientId: agent.clientId, commandId: update.commandId, jobId: update.jobId, status: update.status,
      responseJson: update.responseJson, agentTimestamp: update.timestamp, at: now(),
    }).then((outcome) => {
      const fields = { clientId: agent.clientId, tenant: agent.tenant, commandId: update.commandId.slice(0, 64), deliveryJobId: update.jobId.slice(0, 64), status: update.status };
      if (outcome === 'unknown') logger.info({ ...fields, reason: 'unknown or foreign job or command' }, 'command update ignored');
      else if (outcome === 'unchanged') logger.debug(fields, 'command update changed nothing');
      else logger.info(fields, 'command updated');
    }).catch((error: unknown) => {
      seen.delete(key);
      logger.error({ err: error, clientId: agent.clientId }, 'could not apply a command update');
    });
  });

  let lastRefresh = new Date(now().getTime() - settings.expiryMs);
  let isSweeping = false;
  const sweep = async (): Promise<void> => {
    if (isSweeping) return;
    isSweeping = true;
    const startedAt = now();
    try {
      // Other nodes' cancellations (with a margin for clocks and commits in flight).
      canceled.add(await jobs.canceledCommandIdsSince(new Date(lastRefresh.getTime() - settings.sweepMs), canceled.maxIds));
      lastRefresh = startedAt;
      canceled.prune();
      const expired = await jobs.expire(startedAt, SWEEP_BATCH);
      if (expired > 0) logger.info({ expired }, 'commands expired undelivered');
      if (subscribed.size === 0) return;
      const stale = await jobs.agentsWithUnsentCommands(new Date(startedAt.getTime() - settings.resendAfterMs), startedAt, SWEEP_BATCH);
      for (const { tenant, clientId } of stale) {
        const client = subscribed.get(keyOf(tenant, clientId));
        if (client && !client.closed) {
          const sentBefore = new Date(startedAt.getTime() - settings.resendAfterMs);
          await jobs.claimForSending(tenant, clientId, startedAt, sentBefore, handedOver.get(client) ?? new Set()).then(send);
        }
      }
    } catch (error) {
      logger.error({ err: error }, 'command sweep failed');
    } finally {
      isSweeping = false;
    }
  };
  const timer = setInterval(() => void sweep(), settings.sweepMs);
  timer.unref();
  void sweep();

  return {
    forwarded(client, packet) {
      if (!isCommandTopic(packet.topic) || !isFromBroker(packet)) return packet;
      const id = commandIdOf(packet.payload);
      if (id === undefined) return packet;
      let ids = handedOver.get(client);
      if (!ids || ids.size >= FORWARDED_PER_CLIENT) handedOver.set(client, ids = new Set());
      ids.add(id);
      if (!client.clean || (packet.qos ?? 0) < 1) return packet;
      // The packet id aedes' QoSPacket would take (it keeps one given to it): the same counter, advanced alike.
      const counter = client as unknown as { _nextId: number };
      const messageId = counter._nextId;
      counter._nextId = messageId >= 65535 ? 1 : messageId + 1;
      const withId = { ...packet, messageId };
      let inflight = cleanInflight.get(client);
      if (!inflight || inflight.size >= FORWARDED_PER_CLIENT) cleanInflight.set(client, inflight = new Map());
      inflight.set(messageId, withId);
      return withId;
    },
    async created(tenant, commandIds) {
      try {
        send(await jobs.claimNew(tenant, commandIds, now()));
      } catch (error) {
        // Not lost: the agent's next SUBSCRIBE or the sweep sends them.
        logger.error({ err: error }, 'could not publish new commands');
      }
    },
    async canceled(commandIds) {
      canceled.add(commandIds);
    },
    async beforeResume(principal) {
      canceled.add(await jobs.canceledCommandIdsFor(principal.tenant, principal.clientId, now(), canceled.maxIds));
    },
    close() {
      clearInterval(timer);
    },
  };
};
