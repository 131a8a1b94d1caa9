// Seeds a slice of the trust-index scale tenants into a data dir (bench/lib/seed-data-dir.ts), so
// that two processes share the work. Usage (forked): seed-worker.ts <dataDir> <from> <to>
import { scaleTenant, seedDataDir } from './lib/seed-data-dir.ts';

const [dataDir, from, to] = process.argv.slice(2);
const first = Number(from);
const tenants = Array.from({ length: Number(to) - first }, (_, i) => ({ tenant: scaleTenant(first + i) }));
const result = await seedDataDir(dataDir!, tenants);
process.send?.(result);
process.exit(0);
