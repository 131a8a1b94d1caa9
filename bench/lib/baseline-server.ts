import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { track } from './processes.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export type BaselineMode = 'bare-tls' | 'bare-aedes';

export interface BaselineServer {
  readonly name: string;
  readonly mode: BaselineMode;
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

// A baseline broker (bench/baseline-server.ts) as bin/trustgate runs trustgate: the package's Node 24,
// MALLOC_MMAP_THRESHOLD_=65536, --disable-warning=ExperimentalWarning; node is exec'd directly so
// the pid is the server's. It serves trustgate's own certificate chain and key (from its data dir),
// so clients trust it as they trust trustgate. `groups`: the TLS groups (ecdhCurve), undefined = Node's.
export const startBaseline = async (name: string, mode: BaselineMode, dataDir: string, groups?: string): Promise<BaselineServer> => {
  const child: ChildProcess = track(spawn(join(ROOT, 'node_modules', 'node', 'bin', 'node'), [
    // BENCH_PROFILE_DIR: profiled like trustgate (bench/lib/trustgate-server.ts).
    ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
    '--disable-warning=ExperimentalWarning', join(ROOT, 'bench', 'baseline-server.ts'), mode,
    // trustgate's generated chain: its server certificate, then the broker root.
    join(dataDir, 'broker-server.key'), join(dataDir, 'broker-server.pem'), join(dataDir, 'broker-root-ca.pem'),
  ], {
    cwd: ROOT,
    env: { MALLOC_MMAP_THRESHOLD_: '65536', ...process.env, BENCH_TLS_GROUPS: groups ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let errors = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    errors = (errors + chunk).slice(-2_000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: did not listen within 15 s: ${errors}`)), 15_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited (${code ?? signal}) before listening: ${errors}`));
    });
    let rest = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
  });
  return {
    name, mode, pid: child.pid!, port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
};
