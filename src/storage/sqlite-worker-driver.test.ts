import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { sql, type Kysely } from 'kysely';
import { isDomainError } from '../shared/index.ts';
import { openDatabase, type OpenDatabaseOptions } from './open-database.ts';
import { inParallel, runTransaction } from './run-transaction.ts';
import { uniqueViolation } from './translate-driver-error.ts';
import type { Database } from './tables.ts';

// The SQLite driver of decision 0030: writes on a worker thread, group commit, a read-only
// connection on the event loop, fail closed when the worker dies.

type Db = Kysely<any>;

/** Opens a fresh database; from then on every COMMIT sleeps `commitDelayMs` in the worker (a slow fsync). */
const withDatabase = async (
  { commitDelayMs = 0, onWorker }: { commitDelayMs?: number; onWorker?: (worker: Worker) => void },
  work: (db: Db, url: string) => Promise<void>,
): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), 'trustgate-worker-'));
  const url = `sqlite:${join(dir, 'test.db')}`;
  const delay = new Int32Array(new SharedArrayBuffer(4));
  const options: OpenDatabaseOptions['sqliteWorkerForTests'] = { commitDelayMs: delay, onWorker };
  const db: Kysely<Database> = await openDatabase({ url, sqliteWorkerForTests: options });
  try {
    await sql`create table items (id integer primary key, name text not null unique)`.execute(db);
    delay[0] = commitDelayMs;
    await work(db as Db, url);
  } finally {
    await db.destroy().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
};

const countIn = async (url: string): Promise<number> => {
  const db: Db = await openDatabase({ url });
  try {
    const row = await db.selectFrom('items').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  } finally {
    await db.destroy();
  }
};

const isUnavailable = (error: unknown): boolean => isDomainError(error) && error.code === 'storage.unavailable';

describe('SQLite on a worker thread (decision 0030)', { timeout: 60_000 }, () => {
  it('keeps every row of 300 concurrent writers, translates unique violations, and shares commits among them', async () => {
    // Every COMMIT sleeps 40 ms (a slow disk): committed one by one, 300 transactions would take 12 s.
    await withDatabase({ commitDelayMs: 40 }, async (db, url) => {
      const started = performance.now();
      const outcomes = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => runTransaction(db as Kysely<Database>, async (trx) => {
        const t = trx as unknown as Db;
        // Every tenth name is taken twice: one of the two fails, alone.
        await t.insertInto('items').values({ id: i + 1, name: `item-${i % 10 === 9 ? i - 1 : i}` }).execute();
        return (await t.selectFrom('items').select('id').where('id', '=', i + 1).executeTakeFirstOrThrow()).id;
      })));
      const elapsed = performance.now() - started;
      const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
      assert.equal(failed.length, 30);
      for (const failure of failed) assert.ok(uniqueViolation((failure as PromiseRejectedResult).reason), String((failure as PromiseRejectedResult).reason));
      assert.ok(elapsed < 4_000, `300 transactions took ${Math.round(elapsed)} ms: their commits were not shared`);
      // Durable: another connection sees all of them once the callers have their answers.
      assert.equal(await countIn(url), 270);
      // Statements outside a transaction are grouped too, and each is durable when it returns.
      await Promise.all(Array.from({ length: 100 }, (_, i) => db.insertInto('items').values({ id: 1000 + i, name: `single-${i}` }).execute()));
      assert.equal(await countIn(url), 370);
    });
  });

  it('a transaction that fails on a row of the open batch answers once that row is durable, so its caller reads it back', async () => {
    await withDatabase({ commitDelayMs: 100 }, async (db) => {
      const attempts = await Promise.allSettled(Array.from({ length: 10 }, (_, i) =>
        runTransaction(db as Kysely<Database>, (trx) => (trx as unknown as Db).insertInto('items').values({ id: i + 1, name: 'the one' }).execute())
          .catch(async (error) => {
            assert.ok(uniqueViolation(error));
            // Read on the event loop's read-only connection: it sees only committed batches.
            const winner = await db.selectFrom('items').select('id').where('name', '=', 'the one').executeTakeFirst();
            assert.ok(winner, 'the winner is durable and visible when the loser hears of it');
            return winner.id;
          })));
      for (const attempt of attempts) assert.equal(attempt.status, 'fulfilled', String((attempt as PromiseRejectedResult).reason));
    });
  });

  it('a slow commit blocks neither the event loop nor reads', async () => {
    await withDatabase({ commitDelayMs: 1_500 }, async (db) => {
      await db.insertInto('items').values({ id: 1, name: 'before' }).execute();
      let writeDone = false;
      const write = db.insertInto('items').values({ id: 2, name: 'slow' }).execute().then(() => { writeDone = true; });
      // The event loop turns: a 10 ms timer fires long before the 1.5 s commit ends.
      const lag = await new Promise<number>((resolve) => { const at = performance.now(); setTimeout(() => resolve(performance.now() - at), 10); });
      assert.ok(lag < 500, `a 10 ms timer fired after ${Math.round(lag)} ms`);
      // A read answers meanwhile, with committed rows only.
      const rows = await db.selectFrom('items').select('name').orderBy('id').execute();
      assert.deepEqual(rows.map((row) => row.name), ['before']);
      assert.equal(writeDone, false, 'positive control: the slow commit was still running');
      await write;
      assert.deepEqual((await db.selectFrom('items').select('name').orderBy('id').execute()).map((row) => row.name), ['before', 'slow']);
    });
  });

  it('when the worker dies, nothing unwritten is acknowledged and every later query fails with storage.unavailable', async () => {
    let worker: Worker | undefined;
    await withDatabase({ onWorker: (w) => { worker = w; } }, async (db, url) => {
      await db.insertInto('items').values({ id: 1, name: 'durable' }).execute();
      const outcome = await runTransaction(db as Kysely<Database>, async (trx) => {
        await (trx as unknown as Db).insertInto('items').values({ id: 2, name: 'lost' }).execute();
        await worker!.terminate();
        await (trx as unknown as Db).insertInto('items').values({ id: 3, name: 'lost too' }).execute();
      }).then(() => 'committed', (error: unknown) => error);
      assert.ok(isUnavailable(outcome), String(outcome));
      for (const query of [
        () => db.insertInto('items').values({ id: 4, name: 'after' }).execute(),
        () => db.selectFrom('items').selectAll().execute(),
        () => sql`select 1`.execute(db), // what /readyz asks
        () => runTransaction(db as Kysely<Database>, (trx) => (trx as unknown as Db).selectFrom('items').selectAll().execute()),
      ]) await assert.rejects(query(), isUnavailable);
      await db.destroy();
      assert.equal(await countIn(url), 1, 'only the acknowledged row is in the file');
    });
  });

  it('when the worker dies during a commit, the waiting writers fail with storage.unavailable', async () => {
    let worker: Worker | undefined;
    await withDatabase({ commitDelayMs: 30_000, onWorker: (w) => { worker = w; } }, async (db, url) => {
      const writes = Array.from({ length: 5 }, (_, i) => db.insertInto('items').values({ id: i + 1, name: `w${i}` }).execute().then(() => 'acknowledged', (error: unknown) => error));
      // Most likely the worker is inside the (30 s) COMMIT by now; wherever it is, the outcome must be the same.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await worker!.terminate();
      for (const outcome of await Promise.all(writes)) assert.ok(isUnavailable(outcome), String(outcome));
      await db.destroy();
      assert.equal(await countIn(url), 0);
    });
  });

  it('statements sent in one tick share a message; a failing sibling in a transaction rolls back everything its siblings wrote, later statements too', async () => {
    let messages = 0;
    const onWorker = (worker: Worker) => {
      const post = worker.postMessage.bind(worker);
      worker.postMessage = (message: unknown) => {
        messages += 1;
        post(message);
      };
    };
    await withDatabase({ onWorker }, async (db, url) => {
      await db.insertInto('items').values({ id: 1, name: 'taken' }).execute();
      messages = 0;
      const failed = await runTransaction(db as Kysely<Database>, async (trx) => {
        const t = trx as unknown as Db;
        // Chain 0 fails at once (unique name); chains 1–20 write twice, the second write sent only
        // after the failure is known: it must not land after the rollback.
        await inParallel(trx, Array.from({ length: 21 }, (_, i) => i), async (i, execute) => {
          const insert = (id: number, name: string) => execute(t.insertInto('items').values({ id, name }).compile());
          if (i === 0) return void await insert(100, 'taken');
          await insert(100 + 2 * i, `first-${i}`);
          await insert(101 + 2 * i, `second-${i}`);
        });
      }).then(() => undefined, (error: unknown) => error);
      assert.ok(uniqueViolation(failed), `the unique violation, first in time, is what fails the transaction: ${String(failed)}`);
      // BEGIN, SAVEPOINT, the 21 first statements, the 20 second ones, ROLLBACK TO, RELEASE, COMMIT.
      assert.ok(messages <= 8, `41 statements in parallel and the transaction's own took ${messages} messages`);
      await db.insertInto('items').values({ id: 2, name: 'after' }).execute();
      assert.equal(await countIn(url), 2, 'only the rows written outside the failed transaction');
    });
  });
});
