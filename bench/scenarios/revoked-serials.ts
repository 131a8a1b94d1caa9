import { join } from 'node:path';
import { databaseUrlOf } from '../../src/app/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { CaCertificateId, TenantId } from '../../src/shared/index.ts';
import { KyselyRevocationStore, openDatabase } from '../../src/storage/index.ts';
import type { BrokerTarget } from '../lib/broker-target.ts';
import type { AgentIdentity } from '../lib/jobs.ts';
import type { MintedCertificate } from '../lib/fast-certificates.ts';
import { measureUndisturbed } from '../lib/processes.ts';
import { seedDataDir } from '../lib/seed-data-dir.ts';
import { median, round } from '../lib/stats.ts';
import { startTrustgate, type TrustgateServer } from '../lib/trustgate-server.ts';
import { withPool } from '../lib/worker-pool.ts';
import { connectPass, type ConnectFigures, type ConnectOptions } from './connect-storm.ts';

export interface RevokedSerialsOptions extends ConnectOptions {
  /** Serial numbers revoked under each of the bench tenant's CAs in the "revoked" data dir (a CRL). */
  readonly revoked: number;
  readonly rounds: number;
  readonly processes: number;
}

export interface RevokedSerialsFigures {
  readonly revokedSerials: number;
  readonly rounds: readonly { readonly none: ConnectFigures; readonly revoked: ConnectFigures }[];
  readonly reconnectsPerSecond: { readonly none: number; readonly revoked: number };
  readonly ratio: number;
}

/** Serials no bench agent has (theirs are random 16 octets): `7e57` + a counter. */
const revokedSerial = (i: number): string => `7e57${i.toString(16).padStart(8, '0')}`;

// Issue 15 part 2: the connect path looks a serial up in a Set per CA, so a CRL of 10,000 entries
// must not slow reconnects. Two fresh trustgate processes whose data dirs differ only in the
// bench tenant's CRLs (`revoked` serials under each of its CAs, none of them an agent's), stored
// before start, so the server loads them into its trust index as after a restart. Reconnect
// passes of the same agents alternate none/revoked, revoked/none, … and the medians are compared.
export const runRevokedSerials = async (
  options: RevokedSerialsOptions,
  setup: { readonly workDir: string; readonly tenant: string; readonly tenantCas: readonly MintedCertificate[]; readonly agents: readonly AgentIdentity[];
    readonly agentKeyPem: string; readonly targetOf: (server: TrustgateServer) => BrokerTarget; readonly log: (line: string) => void },
): Promise<RevokedSerialsFigures> => {
  const noneDir = join(setup.workDir, 'revoked-0');
  const revokedDir = join(setup.workDir, `revoked-${options.revoked}`);
  for (const dir of [noneDir, revokedDir]) await seedDataDir(dir, [{ tenant: setup.tenant, cas: setup.tenantCas }]);
  const db = await openDatabase({ url: databaseUrlOf(loadConfig({ TRUSTGATE_DATA_DIR: revokedDir })) });
  try {
    const store = new KyselyRevocationStore(db);
    const cas = await db.selectFrom('ca_certificates').select('id').where('tenant_id', '=', setup.tenant).execute();
    const entries = Array.from({ length: options.revoked }, (_, i) => ({ serialNumber: revokedSerial(i), reason: 'keyCompromise', revokedAt: new Date() }));
    for (const { id } of cas) {
      await store.replaceCrl({
        tenant: setup.tenant as TenantId, caCertificateId: id as CaCertificateId, thisUpdate: new Date(), nextUpdate: undefined,
        crlNumber: '1', entryCount: entries.length, importedAt: new Date(),
      }, entries);
    }
  } finally {
    await db.destroy();
  }
  setup.log(`revoked serials: ${options.revoked.toLocaleString('en')} per CA stored in one data dir`);

  const servers: TrustgateServer[] = [];
  try {
    const none = await startTrustgate('trustgate (no revocations)', noneDir, { startTimeoutMs: 60_000 });
    servers.push(none);
    const revoked = await startTrustgate(`trustgate (${options.revoked} revoked serials per CA)`, revokedDir, { startTimeoutMs: 60_000 });
    servers.push(revoked);
    const targets = { none: setup.targetOf(none), revoked: setup.targetOf(revoked) };
    const rounds = await withPool(options.processes, async (pool) => {
      // First connects (onboarding) on both, unreported: what follows are reconnects of known agents.
      for (const which of ['none', 'revoked'] as const) await connectPass(pool, targets[which], setup.agents, setup.agentKeyPem, options);
      const rounds: { none: ConnectFigures; revoked: ConnectFigures }[] = [];
      for (let r = 0; r < options.rounds; r++) {
        const order = r % 2 === 0 ? (['none', 'revoked'] as const) : (['revoked', 'none'] as const);
        const round: Partial<Record<'none' | 'revoked', ConnectFigures>> = {};
        for (const which of order) {
          round[which] = await measureUndisturbed(`revoked serials round ${r + 1} (${which})`, () => connectPass(pool, targets[which], setup.agents, setup.agentKeyPem, options));
        }
        rounds.push(round as { none: ConnectFigures; revoked: ConnectFigures });
        setup.log(`revoked serials round ${r + 1}: ${round.none!.perSecond}/s with none, ${round.revoked!.perSecond}/s with ${options.revoked} per CA`);
      }
      return rounds;
    });
    const reconnectsPerSecond = { none: median(rounds.map((r) => r.none.perSecond)), revoked: median(rounds.map((r) => r.revoked.perSecond)) };
    return { revokedSerials: options.revoked, rounds, reconnectsPerSecond, ratio: round(reconnectsPerSecond.revoked / reconnectsPerSecond.none, 3) };
  } finally {
    for (const server of servers) await server.stop();
  }
};
