import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';

// A spawned server's memory, seen from /proc, for the tests that bound what clients can make it hold.

/** Current (VmRSS) or peak (VmHWM) resident memory of process `pid`, in bytes. */
export const procStatus = async (pid: number | undefined, field: 'VmRSS' | 'VmHWM'): Promise<number> => {
  assert.ok(pid !== undefined, 'a running process');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  assert.ok(match, `${field} in /proc/<pid>/status`);
  return Number(match[1]) * 1024;
};

/** Resets the peak RSS (VmHWM) of process `pid`; false where the kernel does not allow it. */
export const resetPeakRss = async (pid: number | undefined): Promise<boolean> => {
  assert.ok(pid !== undefined, 'a running process');
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
};
