import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { nowMs, sleep, track } from './processes.ts';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface MosquittoServer {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly config: string;
  readonly acl: string;
  tail(): string;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /** Directory for the config, ACL and PEM files. */
  readonly dir: string;
  /** The tenant CA trustgate verified: Mosquitto's `cafile` for client certificates. */
  readonly tenantCaPem: string;
  readonly serverCertificatePem: string;
  readonly serverKeyPem: string;
  readonly tenant: string;
  /** CN of the tenant application's client certificate. */
  readonly applicationCommonName: string;
}

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const server = createServer();
  server.once('error', reject);
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});

export const mosquittoVersion = (): string => {
  try {
    return /mosquitto version (\S+)/.exec(execFileSync(MOSQUITTO, ['-h'], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'pipe'] }))?.[1] ?? 'unknown';
  } catch (error) {
    // `mosquitto -h` exits 3 after printing its usage.
    return /mosquitto version (\S+)/.exec(String((error as { stdout?: string }).stdout))?.[1] ?? 'unknown';
  }
};

// The baseline broker: Debian's Mosquitto on its own port, mutual TLS with the same
// tenant CA trustgate verified, the client certificate's CN as user name, a pattern ACL that gives
// each agent exactly trustgate's walls (publish below tc/<tenant>/<tenant>_<CN>/o/, subscribe below
// .../i/), unbounded queues (its default limit silently drops QoS 1 bursts) and TCP_NODELAY.
// Mosquitto cannot tie the client id to the CN as trustgate does; the ACL ties the topics to the CN.
export const startMosquitto = async (name: string, options: MosquittoOptions): Promise<MosquittoServer> => {
  const { dir, tenant } = options;
  const port = await freePort();
  const files = { cafile: join(dir, 'tenant-ca.pem'), certfile: join(dir, 'server.pem'), keyfile: join(dir, 'server.key'), acl: join(dir, 'acl'), config: join(dir, 'mosquitto.conf') };
  const acl = [
    '# Agents (user name = certificate CN, trustgate client id = <tenant>_<CN>): their own topics only.',
    `pattern write tc/${tenant}/${tenant}_%u/o/#`,
    `pattern read tc/${tenant}/${tenant}_%u/i/#`,
    '# The tenant application: reads everything of its tenant.',
    `user ${options.applicationCommonName}`,
    `topic read tc/${tenant}/#`,
    '',
  ].join('\n');
  const config = [
    `listener ${port} 127.0.0.1`,
    `cafile ${files.cafile}`,
    `certfile ${files.certfile}`,
    `keyfile ${files.keyfile}`,
    'require_certificate true',
    'use_identity_as_username true',
    `acl_file ${files.acl}`,
    'allow_anonymous false',
    'max_queued_messages 0',
    'max_inflight_messages 0',
    'set_tcp_nodelay true',
    'persistence false',
    // As root, Mosquitto would switch to the user "mosquitto", which cannot read this private temp dir.
    `user ${userInfo().username}`,
    '',
  ].join('\n');
  await Promise.all([
    writeFile(files.cafile, options.tenantCaPem),
    writeFile(files.certfile, options.serverCertificatePem),
    writeFile(files.keyfile, options.serverKeyPem, { mode: 0o600 }),
    writeFile(files.acl, acl),
    writeFile(files.config, config),
  ]);
  const child: ChildProcess = track(spawn(MOSQUITTO, ['-c', files.config], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const tail: string[] = [];
  const remember = (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      tail.push(line);
      if (tail.length > 30) tail.shift();
    }
  };
  child.stdout!.setEncoding('utf8').on('data', remember);
  child.stderr!.setEncoding('utf8').on('data', remember);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  // Ready when a TLS handshake on its port succeeds (no client certificate: it is refused after the handshake).
  const deadline = nowMs() + 15_000;
  for (;;) {
    if (exited) throw new Error(`${name}: mosquitto exited at start:\n${tail.join('\n')}`);
    const listening = await new Promise<boolean>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 2_000);
    });
    if (listening) break;
    if (nowMs() > deadline) throw new Error(`${name}: mosquitto did not listen on ${port} within 15 s:\n${tail.join('\n')}`);
    await sleep(100);
  }
  return {
    name, pid: child.pid!, port, config, acl,
    tail: () => tail.join('\n'),
    stop: async () => {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    },
  };
};
