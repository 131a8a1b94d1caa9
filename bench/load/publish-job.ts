import type { AgentIdentity, Job, PublishResult } from '../lib/jobs.ts';
import { encodeConnect, PacketType, publishTemplate } from '../lib/mqtt-wire.ts';
import { cpuMs, hooks, nowMs, ready, send } from './control.ts';
import { connectClient, contextFor, KEEPALIVE_SECONDS } from './mqtt-client.ts';

// Publishers: this process's agents publish for `seconds` (at most `maxMessages`), round-robin, in batches of
// `batchMessages` per write, keeping at most `window` messages sent but not yet received by the
// application (credits come back through the parent). Payload: send time (monotonic ns, u64 LE)
// and this process's index, zero padding after.
export const runPublish = async (job: Extract<Job, { kind: 'publish' }>): Promise<void> => {
  const connections = await Promise.all(job.agents.map(async (agent: AgentIdentity) => {
    const connected = await connectClient(job.endpoint, contextFor(job.endpoint, agent.certificatePem, job.keyPem),
      encodeConnect({ clientId: agent.clientId, keepaliveSeconds: KEEPALIVE_SECONDS }), 20_000);
    connected.socket.on('error', () => undefined);
    return { ...connected, template: publishTemplate(agent.topic, job.qos, job.payloadBytes), nextPacketId: 1, blocked: false };
  }));
  let acked = 0;
  let sent = 0;
  let credited = 0;
  let stopAtMs = Number.POSITIVE_INFINITY;
  let isSending = true;
  let onProgress: () => void = () => undefined;
  for (const connection of connections) {
    connection.socket.on('data', (chunk: Buffer) => {
      connection.reader.push(chunk);
      for (let packet = connection.reader.next(); packet; packet = connection.reader.next()) {
        if (packet.type === PacketType.Puback) acked += 1;
      }
      onProgress();
    });
    connection.socket.on('drain', () => {
      connection.blocked = false;
      pump();
    });
  }
  let next = 0;
  let scheduled = false;
  let paceTimer: NodeJS.Timeout | undefined;
  let startMs = 0;
  // With an offered rate, only what is due by now may go; the timer brings the next share.
  const due = () => job.ratePerSecond === undefined ? Number.POSITIVE_INFINITY : Math.floor((nowMs() - startMs) * job.ratePerSecond / 1000) - sent;
  const hasRoom = () => isSending && sent < job.maxMessages && sent - credited < job.window && due() > 0;
  const pump = () => {
    if (isSending && nowMs() >= stopAtMs) isSending = false;
    let turns = connections.length;
    let written = 0;
    while (hasRoom() && turns > 0 && written < 2_000) {
      const connection = connections[next]!;
      next = (next + 1) % connections.length;
      if (connection.blocked) {
        turns -= 1;
        continue;
      }
      turns = connections.length;
      const count = Math.min(job.batchMessages, job.maxMessages - sent, job.window - (sent - credited), due());
      const { bytes: template, packetIdOffset, payloadOffset } = connection.template;
      const batch = Buffer.allocUnsafe(template.length * count);
      const sentNs = process.hrtime.bigint();
      for (let m = 0; m < count; m++) {
        const base = m * template.length;
        template.copy(batch, base);
        if (packetIdOffset >= 0) {
          batch.writeUInt16BE(connection.nextPacketId, base + packetIdOffset);
          connection.nextPacketId = connection.nextPacketId === 65_535 ? 1 : connection.nextPacketId + 1;
        }
        batch.writeBigUInt64LE(sentNs, base + payloadOffset);
        batch[base + payloadOffset + 8] = job.processIndex;
      }
      sent += count;
      written += count;
      if (!connection.socket.write(batch)) connection.blocked = true;
    }
    // Yield to the event loop (credits, acknowledgements), then go on while there is room.
    if (hasRoom() && !scheduled && turns > 0) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        pump();
      });
    }
    if (job.ratePerSecond !== undefined && isSending && paceTimer === undefined) {
      paceTimer = setTimeout(() => {
        paceTimer = undefined;
        pump();
      }, 1);
    }
    onProgress();
  };
  hooks.credit = (received) => {
    credited = received;
    pump();
  };
  // Another load of the scenario has ended (scenario 10's storm): stop sending now.
  hooks.stop = () => {
    stopAtMs = Math.min(stopAtMs, nowMs());
    pump();
  };
  await ready();
  const cpu = process.cpuUsage();
  startMs = nowMs();
  stopAtMs = startMs + job.seconds * 1000;
  // Done when sending has stopped (time or count) and, for QoS 1, every PUBLISH is acknowledged.
  await new Promise<void>((resolve) => {
    const budget = setTimeout(resolve, job.budgetMs);
    const stopper = setTimeout(() => pump(), job.seconds * 1000 + 1);
    onProgress = () => {
      if (isSending && (sent >= job.maxMessages || nowMs() >= stopAtMs)) isSending = false;
      if (!isSending && (job.qos === 0 || acked >= sent)) {
        clearTimeout(budget);
        clearTimeout(stopper);
        clearTimeout(paceTimer);
        onProgress = () => undefined;
        resolve();
      }
    };
    pump();
  });
  const result: PublishResult = { sent, acked, startMs, endMs: nowMs(), cpuMs: cpuMs(cpu) };
  send({ type: 'done', result });
  // The connections stay up until `release`: closing now would land in the broker's measurement
  // while the application is still receiving.
};

