import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { promisify } from 'node:util';
import { round } from '../lib/stats.ts';

export interface SignatureSpeed {
  readonly signPerSecond: number;
  readonly verifyPerSecond: number;
}

export interface CpuLimitFigures {
  readonly command: string;
  readonly opensslVersion: string;
  readonly ecdsaP256: SignatureSpeed;
  readonly rsa2048: SignatureSpeed;
  /** Node's bundled OpenSSL (trustgate's), one core, same operations through node:crypto. */
  readonly nodeEcdsaP256: SignatureSpeed & { readonly opensslVersion: string };
  /** Server side of one mutual-TLS handshake with P-256 certificates: 1 signature (CertificateVerify)
   *  + 2 verifications (the client's CertificateVerify and its certificate). Per core, signatures only. */
  readonly handshakesPerCoreSecond: { readonly openssl: number; readonly node: number };
}

const run = promisify(execFile);

// `openssl speed` prints e.g.
//   rsa 2048 bits 0.000587s 0.000017s   1704.0  58823.5
//   256 bits ecdsa (nistp256)   0.0000s   0.0001s  43030.0  13921.0
const parseSpeed = (output: string, line: RegExp): SignatureSpeed => {
  const match = line.exec(output);
  if (!match) throw new Error(`openssl speed: no line matching ${line}:\n${output}`);
  return { signPerSecond: Number(match[1]), verifyPerSecond: Number(match[2]) };
};

const nodeSpeed = (): SignatureSpeed => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const data = Buffer.alloc(32, 7);
  const signature = sign('sha256', data, privateKey);
  const rate = (work: () => void): number => {
    let n = 0;
    const started = performance.now();
    while (performance.now() - started < 500) {
      for (let i = 0; i < 50; i++) work();
      n += 50;
    }
    return n / ((performance.now() - started) / 1000);
  };
  return { signPerSecond: round(rate(() => sign('sha256', data, privateKey)), 0), verifyPerSecond: round(rate(() => verify('sha256', data, publicKey, signature)), 0) };
};

const handshakes = ({ signPerSecond, verifyPerSecond }: SignatureSpeed): number => round(1 / (1 / signPerSecond + 2 / verifyPerSecond), 0);

/** What the CPU's signatures allow, measured while nothing else runs. */
export const runCpuLimit = async (): Promise<CpuLimitFigures> => {
  const args = ['speed', '-seconds', '1', 'ecdsap256', 'rsa2048'];
  const { stdout } = await run('openssl', args, { timeout: 60_000, maxBuffer: 1 << 20 });
  const { stdout: version } = await run('openssl', ['version'], { timeout: 5_000 });
  const ecdsaP256 = parseSpeed(stdout, /256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/);
  const rsa2048 = parseSpeed(stdout, /rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/);
  const node = nodeSpeed();
  return {
    command: `openssl ${args.join(' ')}`,
    opensslVersion: version.trim(),
    ecdsaP256, rsa2048,
    nodeEcdsaP256: { ...node, opensslVersion: process.versions.openssl },
    handshakesPerCoreSecond: { openssl: handshakes(ecdsaP256), node: handshakes(node) },
  };
};
