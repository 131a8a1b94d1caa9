import { connect as tlsConnect, type SecureContext } from 'node:tls';
import type { Endpoint, Job, ReconnectLoopResult } from '../lib/jobs.ts';
import { DISCONNECT, encodeConnect, PacketReader, PacketType } from '../lib/mqtt-wire.ts';
import { cpuMs, hooks, nowMs, ready, send } from './control.ts';
import { contextFor, KEEPALIVE_SECONDS } from './mqtt-client.ts';

// Agents in a reconnect loop (scenario 9: the well-behaved agents, paced or as fast as they can,
// and the refused agent): connect, CONNACK, DISCONNECT, again. Unlike connectClient, a refusal is an outcome to
// count, not an error: the scenario reports what the broker answered (a CONNACK code, a close after
// the handshake, a reset before it), so it reads the same with connect limits and bans or without.

/** One attempt: resolves with its outcome and, when accepted, the latency to CONNACK 0. */
const attempt = (endpoint: Endpoint, context: SecureContext, connectPacket: Buffer, timeoutMs: number): Promise<{ outcome: string; latencyMs?: number }> =>
  new Promise((resolve) => {
    const started = nowMs();
    const socket = tlsConnect({ host: endpoint.host, port: endpoint.port, servername: endpoint.servername, secureContext: context, rejectUnauthorized: true });
    const reader = new PacketReader();
    let handshaken = false;
    let settled = false;
    const settle = (outcome: string, latencyMs?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(latencyMs === undefined ? { outcome } : { outcome, latencyMs });
    };
    const timer = setTimeout(() => {
      settle('timeout');
      socket.destroy();
    }, timeoutMs);
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      handshaken = true;
      socket.write(connectPacket);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle(handshaken ? `error after TLS (${error.code ?? error.message})` : `TLS refused (${error.code ?? error.message})`));
    socket.once('close', () => settle(handshaken ? 'closed after TLS, no CONNACK' : 'closed before TLS completed'));
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      const packet = reader.next();
      if (!packet || settled) return;
      if (packet.type !== PacketType.Connack) {
        settle(`packet type ${packet.type} instead of CONNACK`);
        socket.destroy();
        return;
      }
      const code = packet.body[1]!;
      settle(`CONNACK ${code}`, code === 0 ? nowMs() - started : undefined);
      // Accepted: leave as a well-behaved client does; refused: the broker closes, we do too.
      if (code === 0) socket.end(DISCONNECT);
      else socket.destroy();
    });
  });

export const runReconnectLoop = async (job: Extract<Job, { kind: 'reconnect-loop' }>): Promise<void> => {
  const contexts = job.agents.map((agent) => contextFor(job.endpoint, agent.certificatePem, job.keyPem));
  const packets = job.agents.map((agent) => encodeConnect({ clientId: agent.clientId, keepaliveSeconds: KEEPALIVE_SECONDS }));
  let stopped = false;
  hooks.stop = () => {
    stopped = true;
  };
  await ready();
  const cpu = process.cpuUsage();
  const startMs = nowMs();
  const deadline = startMs + job.seconds * 1000;
  const latenciesMs: number[] = [];
  const outcomes: Record<string, number> = {};
  let started = 0;
  // Paced: attempt k is due at start + k / rate; a lane that is behind goes at once (bounded by the lanes).
  const dueAt = (k: number) => job.ratePerSecond === undefined ? startMs : startMs + k * 1000 / job.ratePerSecond;
  await Promise.all(Array.from({ length: job.concurrency }, async () => {
    while (!stopped && started < job.maxAttempts && nowMs() < deadline) {
      const k = started++;
      const wait = dueAt(k) - nowMs();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (stopped || nowMs() >= deadline) break;
      const i = k % job.agents.length;
      const { outcome, latencyMs } = await attempt(job.endpoint, contexts[i]!, packets[i]!, job.timeoutMs);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (latencyMs !== undefined) latenciesMs.push(latencyMs);
    }
  }));
  const result: ReconnectLoopResult = {
    attempts: Object.values(outcomes).reduce((sum, n) => sum + n, 0), latenciesMs, outcomes, startMs, endMs: nowMs(), cpuMs: cpuMs(cpu),
  };
  send({ type: 'done', result });
};
