import type { Job, RestResult } from '../lib/jobs.ts';
import { generateP256Key, mintCa, mintVerificationCertificate, type MintedCertificate } from '../lib/fast-certificates.ts';
import { restCall } from '../lib/rest-call.ts';
import { cpuMs, hooks, lanes, nowMs, ready, send } from './control.ts';


export const runRest = async (job: Extract<Job, { kind: 'rest-register' | 'rest-list' }>): Promise<void> => {
  const latenciesMs: Record<string, number[]> = {};
  const failureSamples: string[] = [];
  let failures = 0;
  let flows = 0;
  const flowLatenciesMs: number[] = [];
  let stopped = false;
  hooks.stop = () => {
    stopped = true;
  };
  const timed = async (name: string, work: () => Promise<any>): Promise<any> => {
    const started = nowMs();
    const answer = await work();
    (latenciesMs[name] ??= []).push(nowMs() - started);
    return answer;
  };
  const failed = (error: unknown) => {
    failures += 1;
    if (failureSamples.length < 5) failureSamples.push((error as Error).message);
  };
  let cpu: NodeJS.CpuUsage;
  let startMs: number;
  if (job.kind === 'rest-register') {
    // Each tenant's CA is made before the clock starts; the proof needs the code, so it is made inside.
    const proofKey = generateP256Key();
    const cas: MintedCertificate[] = job.tenants.map(({ tenant }) => mintCa([['O', tenant], ['CN', `${tenant} CA`]]));
    await ready();
    cpu = process.cpuUsage();
    startMs = nowMs();
    await lanes(job.tenants.map((_, i) => i), job.concurrency, startMs + job.budgetMs, async (i) => {
      const { token } = job.tenants[i]!;
      const ca = cas[i]!;
      const flowStarted = nowMs();
      try {
        const created = await timed('upload', () => restCall(job.apiUrl, token, '/caCertificates', { name: 'bench CA', caCertificate: ca.pem }));
        const { registrationCode } = await timed('registrationCode', () => restCall(job.apiUrl, token, `/caCertificates/${created.id}/registrationCode`));
        const proof = mintVerificationCertificate(ca, registrationCode, proofKey);
        const verified = await timed('verify', () => restCall(job.apiUrl, token, `/caCertificates/${created.id}/verify`, { verificationCertificate: proof.pem }));
        if (!verified.isVerified) throw new Error('verify answered isVerified=false');
        flows += 1;
        flowLatenciesMs.push(nowMs() - flowStarted);
      } catch (error) {
        failed(error);
      }
    });
  } else {
    await ready();
    cpu = process.cpuUsage();
    startMs = nowMs();
    const deadline = startMs + job.seconds * 1000;
    let n = 0;
    await Promise.all(Array.from({ length: job.concurrency }, async () => {
      while (!stopped && nowMs() < deadline) {
        try {
          const list = await timed('list', () => restCall(job.apiUrl, job.tokens[n++ % job.tokens.length]!, '/caCertificates'));
          if (!Array.isArray(list)) throw new Error('GET /caCertificates did not answer a list');
          flows += 1;
        } catch (error) {
          failed(error);
        }
      }
    }));
  }
  const result: RestResult = { latenciesMs, flowLatenciesMs, failures, failureSamples, flows, startMs, endMs: nowMs(), cpuMs: cpuMs(cpu) };
  send({ type: 'done', result });
};

