import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';

// Files that must never be seen half-written (keys, certificates): written and fsynced under a
// unique temporary name, then linked or renamed into place.

export const readOptional = async (path: string): Promise<string | undefined> => {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

const writeTemporary = async (path: string, content: string, mode: number): Promise<string> => {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(temporary, 'wx', mode);
  try {
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
  return temporary;
};

// Creates `path` only if it does not exist yet: written and fsynced under a unique name, then
// hard-linked. Of two concurrent starts exactly one wins; a crash never leaves half a file.
export const publishOnce = async (path: string, content: string, mode: number): Promise<boolean> => {
  const temporary = await writeTemporary(path, content, mode);
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary);
  }
};

// Replaces `path` atomically: readers see the old or the new file, never a mix.
export const publishReplacing = async (path: string, content: string, mode: number): Promise<void> => {
  const temporary = await writeTemporary(path, content, mode);
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
};
