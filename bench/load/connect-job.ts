import type { ConnectResult, Job, TlsInfo } from '../lib/jobs.ts';
import { DISCONNECT, encodeConnect } from '../lib/mqtt-wire.ts';
import { cpuMs, lanes, nowMs, ready, send } from './control.ts';
import { connectClient, contextFor, KEEPALIVE_SECONDS, tlsInfoOf } from './mqtt-client.ts';

// Connect storm and idle agents: each lane connects an agent, and either closes (DISCONNECT) at
// once and takes the next one, or holds the connection.
export const runConnect = async (job: Extract<Job, { kind: 'connect' }>): Promise<void> => {
  const contexts = job.agents.map((agent) => contextFor(job.endpoint, agent.certificatePem, job.keyPem));
  const packets = job.agents.map((agent) => encodeConnect({ clientId: agent.clientId, keepaliveSeconds: KEEPALIVE_SECONDS }));
  await ready();
  const cpu = process.cpuUsage();
  const startMs = nowMs();
  const latenciesMs: number[] = [];
  const failureSamples: string[] = [];
  let failures = 0;
  let tls: TlsInfo | undefined;
  await lanes(job.agents.map((_, i) => i), job.concurrency, startMs + job.budgetMs, async (i) => {
    try {
      const { socket, latencyMs } = await connectClient(job.endpoint, contexts[i]!, packets[i]!, job.timeoutMs);
      latenciesMs.push(latencyMs);
      tls ??= tlsInfoOf(socket);
      socket.on('error', () => undefined);
      if (!job.hold) socket.end(DISCONNECT);
    } catch (error) {
      failures += 1;
      if (failureSamples.length < 5) failureSamples.push(`${job.agents[i]!.clientId}: ${(error as Error).message}`);
    }
  });
  const result: ConnectResult = { connects: latenciesMs.length, failures, failureSamples, latenciesMs, startMs, endMs: nowMs(), cpuMs: cpuMs(cpu), tls };
  send({ type: 'done', result });
};

