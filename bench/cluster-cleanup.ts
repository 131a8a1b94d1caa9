// Removes what the cluster scenario created when the run ended before it could (lib/cluster-backing.ts):
// node bench/cluster-cleanup.ts <database> <redis prefix>
import { removeBacking } from './lib/cluster-backing.ts';

const [databaseName, redisPrefix] = process.argv.slice(2);
if (!databaseName || !redisPrefix) {
  process.stderr.write('usage: cluster-cleanup.ts <database> <redis prefix>\n');
  process.exit(64);
}
await removeBacking(databaseName, redisPrefix);
