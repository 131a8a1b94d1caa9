import type { Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BrokerMetrics } from './broker-metrics.ts';

/** The `reason` label of trustgate_mqtt_messages_dropped_total (docs/metrics.md). */
export const messageDropReasons = ['publishDenied', 'publisherNotAllowed', 'queueFull', 'queueUnavailable'] as const;

/**
 * The per-message counts, as plain numbers: the hot path adds 1 to a field (no label lookup, no
 * call into prom-client); the families below read them when Prometheus scrapes.
 */
export class MessageTraffic {
  /** PUBLISH packets accepted from this node's clients. */
  received = 0;
  /** Messages handed to this node's clients (each subscriber's copy counts). */
  sent = 0;
  /** QoS 1 messages not queued for persistent sessions because their count could not be taken. */
  queueUnavailable = 0;
  #closedBytesRead = 0;
  #closedBytesWritten = 0;

  /** A connection closed: its bytes move from the live sockets into the totals. */
  socketClosed(socket: Socket): void {
    this.#closedBytesRead += socket.bytesRead;
    this.#closedBytesWritten += socket.bytesWritten;
  }

  bytes(live: Iterable<Socket>): { read: number; written: number } {
    let read = this.#closedBytesRead;
    let written = this.#closedBytesWritten;
    for (const socket of live) {
      read += socket.bytesRead;
      written += socket.bytesWritten;
    }
    return { read, written };
  }
}

export interface TrafficSources {
  /** The TCP sockets of the MQTT port that are open now (TLS and MQTT framing included). */
  readonly sockets: () => Iterable<Socket>;
  /** Bytes written to each connection that its client has not read yet. */
  readonly pendingBytes: () => number;
  /** QoS 1 messages in persistent sessions' queues, when this node can count them (single node). */
  readonly queuedMessages?: () => number;
}

/** A counter whose value is read at scrape time (it only grows: its source only grows). */
const readCounter = (registry: Registry, name: string, help: string, read: () => number) => new Counter({
  name, help, registers: [registry],
  collect() {
    this.reset();
    this.inc(read());
  },
});

const sumOf = async (counter: Counter<string>, keep: (labels: Record<string, unknown>) => boolean = () => true): Promise<number> =>
  (await counter.get()).values.filter((value) => keep(value.labels)).reduce((sum, value) => sum + value.value, 0);

// Messages and bytes in and out, messages dropped by reason, what waits to be sent. Node-local,
// no labels but a bounded `reason`.
export const registerTrafficMetrics = (registry: Registry, metrics: BrokerMetrics, sources: TrafficSources): void => {
  const { traffic } = metrics;
  readCounter(registry, 'trustgate_mqtt_messages_received_total', 'PUBLISH packets accepted from clients of this node', () => traffic.received);
  readCounter(registry, 'trustgate_mqtt_messages_sent_total', 'Messages delivered to clients of this node (one per subscriber, queued ones when replayed)', () => traffic.sent);
  readCounter(registry, 'trustgate_mqtt_received_bytes_total', 'Bytes read from MQTT connections (TLS records: MQTT packets with TLS overhead and handshakes)',
    () => traffic.bytes(sources.sockets()).read);
  readCounter(registry, 'trustgate_mqtt_sent_bytes_total', 'Bytes written to MQTT connections (TLS records: MQTT packets with TLS overhead and handshakes)',
    () => traffic.bytes(sources.sockets()).written);
  // Derived from the counters that already count each case where it happens: nothing more on the
  // message path. A cap hit on a queue is one message not queued.
  new Counter({
    name: 'trustgate_mqtt_messages_dropped_total',
    help: 'Messages the broker did not pass on, by reason: publishDenied (PUBLISH refused by the topic rules or size; the connection is closed), publisherNotAllowed (a stored, retained or forwarded message without a publisher allowed its topic), queueFull (not queued for a persistent session at its queue cap), queueUnavailable (not queued: the queue count could not be taken, e.g. Redis away)',
    labelNames: ['reason'] as const,
    registers: [registry],
    async collect() {
      const values: Record<typeof messageDropReasons[number], number> = {
        publishDenied: await sumOf(metrics.deniedPublishes),
        publisherNotAllowed: await sumOf(metrics.messagesRefused),
        queueFull: await sumOf(metrics.capHits, (labels) => labels.cap === 'queuedPerClient' || labels.cap === 'queuedPerTenant'),
        queueUnavailable: traffic.queueUnavailable,
      };
      this.reset();
      for (const reason of messageDropReasons) this.labels(reason).inc(values[reason]);
    },
  });
  new Gauge({
    name: 'trustgate_mqtt_outgoing_pending_bytes',
    help: 'Bytes written to this node\'s MQTT connections that their clients have not read yet (slow consumers are disconnected past TRUSTGATE_MQTT_MAX_OUTGOING_BYTES_PER_CLIENT)',
    registers: [registry],
    collect() {
      this.set(sources.pendingBytes());
    },
  });
  const { queuedMessages } = sources;
  if (queuedMessages) {
    new Gauge({
      name: 'trustgate_mqtt_queued_messages',
      help: 'QoS 1 messages held for persistent sessions: offline queues and deliveries not yet acknowledged (single node only)',
      registers: [registry],
      collect() {
        this.set(queuedMessages());
      },
    });
  }
};
