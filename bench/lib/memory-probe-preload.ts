// Profiling only (bench/memory-attribution.ts): preloaded into a broker with
// NODE_OPTIONS="--import <this file> --expose-gc". On a request file <dir>/req-<pid> (its text may
// name "gc" and "snap"), it runs a full GC, writes a V8 heap snapshot, and answers in
// <dir>/res-<pid>.json with process.memoryUsage() and V8's heap spaces. The main thread only.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_MEMORY_PROBE_DIR ?? '/tmp';
const request = `${dir}/req-${process.pid}`;
if (isMainThread) {
  setInterval(() => {
    if (!existsSync(request)) return;
    const what = readFileSync(request, 'utf8');
    rmSync(request);
    const gc = (globalThis as { gc?: () => void }).gc;
    if (what.includes('gc') && gc) {
      gc();
      gc();
    }
    const snapshot = what.includes('snap') ? writeHeapSnapshot(`${dir}/broker-${process.pid}-${Date.now()}.heapsnapshot`) : undefined;
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, physical: s.physical_space_size }]));
    writeFileSync(`${request}.tmp`, JSON.stringify({ memory: process.memoryUsage(), malloced: getHeapStatistics().malloced_memory, spaces, snapshot }));
    renameSync(`${request}.tmp`, `${dir}/res-${process.pid}.json`);
  }, 200).unref();
}
