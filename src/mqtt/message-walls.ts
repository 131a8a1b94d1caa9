import { Readable } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';
import type { BrokerMetrics } from './broker-metrics.ts';
import { stampedPublisherOf, wasAcceptedFrom } from './message-publisher.ts';

// The walls a message meets where aedes gives no hook, or a hook without the publisher
// (docs/decisions/0014-messages-enter-through-the-rules.md):
//
// - wills of a node that died: aedes reads them from the shared persistence and publishes them
//   from whichever node notices, through `authorizePublish(null, will)` (aedes.js `_clearWills`).
//   Only wills that carry the publisher stamped at CONNECT and allowed by its rules come out of
//   `streamWill`; any other is deleted there (not merely refused: a refusal aborts aedes' loop,
//   leaves the will stored, and so would hold back every other will on every round).
// - retained messages: aedes rebuilds each one read from the persistence without its properties
//   (lib/handlers/subscribe.js `sendRetained`), so the stamp is checked as it is read, and the
//   delivery hook recognises what was checked by its payload buffer.
// - `$SYS/…`: aedes' own messages (heartbeat, `new/clients` by which nodes take over a client id
//   from each other, …) go straight to `broker.publish` with no client and no hook. A client's
//   PUBLISH or will never may (topic-rules.ts refuses `$` topics too; this wall does not depend on it).

type PersistenceWithStreams = {
  streamWill(brokers: unknown): AsyncIterable<StoredWill>;
  delWill(client: { id: string; brokerId: string }): Promise<unknown>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
};

interface StoredWill {
  readonly topic: string;
  readonly clientId: string;
  readonly brokerId: string;
}

type Publish = (packet: { readonly topic: string }, client?: Client | null | ((error?: Error) => void), done?: (error?: Error) => void) => void;

// Wills handed out by the guarded `streamWill`: `authorizePublish` checks them by their stamp,
// never by whichever client holds their client id on this node now.
const storedWills = new WeakSet<object>();
export const isStoredWill = (packet: object): boolean => storedWills.has(packet);

// Retained messages whose stamp was checked as they were read, by payload buffer (aedes keeps the
// buffer, and only the buffer, in the packet it delivers) with the topic it was checked for.
const checkedRetained = new WeakMap<Buffer, string>();
export const isCheckedRetained = (packet: { readonly topic: string; readonly payload?: unknown; readonly retain?: boolean }): boolean =>
  packet.retain === true && Buffer.isBuffer(packet.payload) && checkedRetained.get(packet.payload) === packet.topic;

const isSysTopic = (topic: unknown): boolean => typeof topic === 'string' && topic.startsWith('$');

export interface MessageWallDependencies {
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
}

/** Installs the walls on a broker created by `Aedes.createBroker` (its persistence is set up by then). */
export const guardStoredMessages = (broker: Aedes, { logger, metrics }: MessageWallDependencies): void => {
  const persistence = (broker as unknown as { persistence: PersistenceWithStreams }).persistence;

  const streamWill = persistence.streamWill.bind(persistence);
  persistence.streamWill = (brokers) => (async function* guardedWills() {
    for await (const will of streamWill(brokers)) {
      const publisher = stampedPublisherOf(will);
      if (wasAcceptedFrom(will) && publisher?.clientId === will.clientId) {
        storedWills.add(will);
        yield will;
        continue;
      }
      metrics.messagesRefused.labels('storedWill').inc();
      logger.warn({ clientId: String(will.clientId).slice(0, 256), topic: String(will.topic).slice(0, 256), tenant: publisher?.tenant, reason: publisher ? 'topic not allowed' : 'no publisher recorded' },
        'dropped the will of a client of a node that stopped: its publisher may not publish there');
      await persistence.delWill({ id: will.clientId, brokerId: will.brokerId }).catch((error: unknown) =>
        logger.warn({ err: error, clientId: String(will.clientId).slice(0, 256) }, 'could not delete a refused will'));
    }
  })();

  const checkRetained = (stream: Readable): Readable => {
    const checked = Readable.from((async function* checkedRetainedMessages() {
      for await (const packet of stream as AsyncIterable<{ topic: string; payload: unknown }>) {
        if (wasAcceptedFrom(packet) && Buffer.isBuffer(packet.payload)) {
          checkedRetained.set(packet.payload, packet.topic);
          yield packet;
          continue;
        }
        metrics.messagesRefused.labels('retained').inc();
        logger.warn({ topic: String(packet.topic).slice(0, 256), tenant: stampedPublisherOf(packet)?.tenant },
          'skipped a retained message: its publisher is unknown (stored before trustgate recorded publishers) or not allowed the topic');
      }
    })());
    // aedes pipes this stream without an error listener: an unheard 'error' would end the process.
    return checked.on('error', (error: Error) => logger.warn({ err: error.message }, 'could not read retained messages'));
  };
  const createRetainedStream = persistence.createRetainedStream.bind(persistence);
  const createRetainedStreamCombi = persistence.createRetainedStreamCombi.bind(persistence);
  persistence.createRetainedStream = (pattern) => checkRetained(createRetainedStream(pattern));
  persistence.createRetainedStreamCombi = (patterns) => checkRetained(createRetainedStreamCombi(patterns));

  // Client-originated: published with a client (a PUBLISH, a will at disconnect), or carrying the
  // client id and publisher that a will keeps in the persistence. aedes' own `$SYS` messages carry
  // neither.
  const publish = (broker.publish as Publish).bind(broker);
  (broker as unknown as { publish: Publish }).publish = (packet, client, done) => {
    const callback = typeof client === 'function' ? client : done;
    const sender = typeof client === 'function' ? null : client;
    if (isSysTopic(packet.topic) && (sender || 'clientId' in packet || stampedPublisherOf(packet) !== undefined)) {
      metrics.messagesRefused.labels('sysTopic').inc();
      logger.warn({ clientId: sender?.id, topic: packet.topic.slice(0, 256) }, 'refused a client-originated message on a $ topic: only brokers publish there');
      return callback?.(new Error('$ topics are reserved for the brokers'));
    }
    publish(packet, sender, callback);
  };
};
