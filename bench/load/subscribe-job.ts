import type { Job, SubscribeResult } from '../lib/jobs.ts';
import { encodeConnect, encodePuback, encodeSubscribe, PacketType } from '../lib/mqtt-wire.ts';
import { cpuMs, hooks, ready, send } from './control.ts';
import { connectClient, contextFor, KEEPALIVE_SECONDS } from './mqtt-client.ts';

// The tenant application: one subscription to tc/<tenant>/#, counts every message by the
// publisher process that sent it (payload byte 8) and reports progress so publishers can keep a
// bounded number of messages in flight end to end; acknowledges QoS 1 deliveries.
export const runSubscribe = async (job: Extract<Job, { kind: 'subscribe' }>): Promise<void> => {
  const { application } = job;
  const context = contextFor(job.endpoint, application.certificatePem, application.keyPem);
  const { socket, reader } = await connectClient(job.endpoint, context, encodeConnect({
    clientId: application.clientId, username: application.username, password: application.password, keepaliveSeconds: KEEPALIVE_SECONDS,
  }), 10_000);
  socket.write(encodeSubscribe(1, job.filter, job.qos));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SUBACK within 10 s')), 10_000);
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      const packet = reader.next();
      if (!packet) return;
      clearTimeout(timer);
      socket.off('data', onData);
      if (packet.type !== PacketType.Suback || packet.body[2] !== job.qos) reject(new Error(`subscription refused: packet type ${packet.type}, granted ${packet.body[2]}`));
      else resolve();
    };
    socket.on('data', onData);
  });
  const counts = new Array<number>(job.publisherProcesses).fill(0);
  const latenciesMs = new Float64Array(job.maxMessages);
  let expected = Number.POSITIVE_INFINITY;
  let received = 0;
  let duplicates = 0;
  let firstMs = 0;
  let lastMs = 0;
  let reported = 0;
  let finished = false;
  const cpu = process.cpuUsage();
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(budget);
    socket.off('data', onData);
    send({ type: 'progress', counts });
    const result: SubscribeResult = { received, latenciesMs: latenciesMs.slice(0, Math.min(received, job.maxMessages)), firstMs, lastMs, cpuMs: cpuMs(cpu), duplicates };
    send({ type: 'done', result });
  };
  hooks.expect = (total) => {
    expected = total;
    if (received >= expected) finish();
  };
  const budget = setTimeout(finish, job.budgetMs);
  const onData = (chunk: Buffer) => {
    const now = process.hrtime.bigint();
    const nowNumber = Number(now) / 1e6;
    reader.push(chunk);
    const acks: Buffer[] = [];
    for (let packet = reader.next(); packet; packet = reader.next()) {
      if (packet.type !== PacketType.Publish) continue;
      const qos = (packet.flags >> 1) & 0x03;
      const topicLength = packet.body.readUInt16BE(0);
      const payloadOffset = 2 + topicLength + (qos > 0 ? 2 : 0);
      if (qos > 0) acks.push(encodePuback(packet.body.readUInt16BE(2 + topicLength)));
      if ((packet.flags & 0x08) !== 0) duplicates += 1; // DUP: a redelivery, not a new message
      const sentNs = packet.body.readBigUInt64LE(payloadOffset);
      const publisher = packet.body[payloadOffset + 8]!;
      if (received < job.maxMessages) latenciesMs[received] = Number(now - sentNs) / 1e6;
      if (received === 0) firstMs = nowNumber;
      received += 1;
      counts[publisher] = (counts[publisher] ?? 0) + 1;
    }
    lastMs = nowNumber;
    if (acks.length > 0) socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
    if (received - reported >= job.progressStep) {
      reported = received;
      send({ type: 'progress', counts });
    }
    if (received >= expected) finish();
  };
  socket.on('error', () => undefined);
  socket.on('data', onData);
  await ready();
};

