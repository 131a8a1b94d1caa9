import { mkdir } from 'node:fs/promises';
import { sql } from 'kysely';
import { databaseUrlOf } from '../../src/app/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { TenantId } from '../../src/shared/index.ts';
import { openDatabase } from '../../src/storage/index.ts';
import { createOfflineRegistry } from '../../test/support/offline-registry.ts';
import { generateP256Key, mintCa, mintVerificationCertificate, type MintedCertificate, type P256Key } from './fast-certificates.ts';

export interface SeedTenant {
  readonly tenant: string;
  /** Up to 2 CA certificates; generated when absent. */
  readonly cas?: readonly MintedCertificate[];
}

// Two seeding processes share the database: a deferred transaction that turns into a write after
// the other process wrote fails at once with SQLITE_BUSY (no busy wait). Each use case commits
// once or not at all, so it is simply tried again.
const retryBusy = async <T>(work: () => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const code = (error as { errcode?: number; cause?: { errcode?: number } }).errcode ?? (error as { cause?: { errcode?: number } }).cause?.errcode;
      if (code === undefined || (code & 0xff) !== 5 || attempt >= 50) throw error; // SQLITE_BUSY and its extended codes
      await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 10 * attempt));
    }
  }
};

/** Tenant names for the trust-index scale: `scale-00000` … (no `_`, as tenant names require). */
export const scaleTenant = (i: number): string => `scale-${String(i).padStart(5, '0')}`;

// Registers and verifies CA certificates on a data dir's SQLite database before trustgate first
// starts there, through the registry's own use cases (parse, CA rules, registration code, proof of
// possession, key claims): what POST /caCertificates + /verify do, without HTTP. Another engineer
// timed 2,000 tenants through the API at 18-45 s (test/broker/trust-index-scale.test.ts); this does
// 20,000 CAs in a few seconds. Durability does not matter for a throwaway database, so this one
// connection runs with synchronous=OFF; the server later opens it with its own settings.
export const seedDataDir = async (
  dataDir: string,
  tenants: Iterable<SeedTenant>,
  options: { readonly perTenant?: 1 | 2 } = {},
): Promise<{ caCertificates: number; seconds: number }> => {
  const started = performance.now();
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const db = await retryBusy(() => openDatabase({ url: databaseUrlOf(loadConfig({ TRUSTGATE_DATA_DIR: dataDir })) }));
  let count = 0;
  try {
    await sql`PRAGMA synchronous = OFF`.execute(db);
    const registry = createOfflineRegistry(db);
    const proofKey: P256Key = generateP256Key();
    for (const { tenant, cas } of tenants) {
      // A tenant's CAs share one key (its key claim); tenants never share one.
      const key = cas ? undefined : generateP256Key();
      const list = cas ?? Array.from({ length: options.perTenant ?? 2 }, (_, n) => mintCa([['O', tenant], ['CN', `${tenant} Device CA ${n + 1}`]], key));
      for (const [n, ca] of list.entries()) {
        const record = await retryBusy(() => registry.registerCaCertificate({ tenant: tenant as TenantId, name: `device CA ${n + 1}`, caCertificatePem: ca.pem }));
        const proof = mintVerificationCertificate(ca, record.registrationCode, proofKey);
        const verified = await retryBusy(() => registry.verifyCaCertificate({ tenant: tenant as TenantId, id: record.id, verificationCertificatePem: proof.pem }));
        if (!verified.isVerified) throw new Error(`seeding ${tenant}: CA ${n + 1} not verified`);
        count += 1;
      }
    }
  } finally {
    await db.destroy();
  }
  return { caCertificates: count, seconds: (performance.now() - started) / 1000 };
};
