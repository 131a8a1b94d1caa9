// A load process for bench/broker.ts: connects agents, or publishes and receives, and reports back.
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';

interface Job { mode: 'connect' | 'hold' | 'throughput'; setup: string; indexes: number[]; concurrency?: number; qos?: 0 | 1; messages?: number }

const job = await new Promise<Job>((resolve) => process.once('message', (m) => resolve(m as Job)));
const setup = JSON.parse(await readFile(job.setup, 'utf8')) as { port: number; brokerCa: string; key: string; agents: { clientId: string; cert: string }[]; appPassword: string };
const url = `mqtts://localhost:${setup.port}`;
const agentOptions = (i: number) => ({ clientId: setup.agents[i]!.clientId, cert: setup.agents[i]!.cert, key: setup.key, ca: setup.brokerCa, reconnectPeriod: 0, connectTimeout: 20_000, keepalive: 600 });

const pool = async <T>(items: T[], concurrency: number, work: (item: T) => Promise<void>) => {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next < items.length) await work(items[next++]!); }));
};

if (job.mode === 'connect' || job.mode === 'hold') {
  const latencies: number[] = [];
  const clients: MqttClient[] = [];
  let failures = 0;
  await pool(job.indexes, job.concurrency ?? 25, async (i) => {
    const started = performance.now();
    try {
      const client = await mqtt.connectAsync(url, agentOptions(i));
      latencies.push(performance.now() - started);
      if (job.mode === 'hold') clients.push(client);
      else await client.endAsync();
    } catch {
      failures += 1;
    }
  });
  process.send!({ latencies, failures });
  if (job.mode === 'hold') await new Promise(() => {}); // held until the parent kills this worker
  process.exit(0);
}

// throughput: agents publish `messages` in total to their o/ topic; one application receives.
const qos = job.qos ?? 0;
const total = job.messages ?? 10_000;
const app = await mqtt.connectAsync(url, { clientId: 'bench_app', username: 'bench', password: setup.appPassword, ca: setup.brokerCa, reconnectPeriod: 0 });
await app.subscribeAsync('tc/bench/#', { qos });
const latencies: number[] = [];
let received = 0;
const done = new Promise<void>((resolve) => app.on('message', (_topic, payload) => {
  received += 1;
  if (received % 10 === 0) latencies.push(performance.now() - payload.readDoubleLE(0));
  if (received === total) resolve();
}));
const publishers = await Promise.all(job.indexes.map((i) => mqtt.connectAsync(url, agentOptions(i))));
const started = performance.now();
const perPublisher = Math.ceil(total / publishers.length);
await Promise.all(publishers.map(async (client, p) => {
  const topic = `tc/bench/${setup.agents[job.indexes[p]!]!.clientId}/o/data`;
  const window: Promise<unknown>[] = [];
  for (let n = 0; n < perPublisher && p * perPublisher + n < total; n++) {
    const payload = Buffer.alloc(64);
    payload.writeDoubleLE(performance.now(), 0);
    window.push(client.publishAsync(topic, payload, { qos }));
    if (window.length >= 100) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
}));
await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
process.send!({ received, seconds: (performance.now() - started) / 1000, latencies });
process.exit(0);
