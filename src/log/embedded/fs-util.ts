/**
 * Small crash-safe file helpers of the embedded log: fsync of a directory (so a created, renamed or
 * deleted name survives a machine crash), atomic small-file writes (temp file, fsync, rename, fsync
 * of the directory), and JSON reads that tell "absent" from "unreadable".
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory, making entries created, renamed or removed in it durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` atomically: `path.tmp`, (fsync), rename, (fsync of the directory). */
export function writeFileAtomic(path: string, data: string | Buffer, durable: boolean): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (durable) fsyncDir(dirname(path));
}

/** `fsyncDir` off the event loop (the fsync runs on libuv's thread pool). */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `writeFileAtomic` off the event loop: the same steps, each awaited. */
export async function writeFileAtomicAsync(
  path: string,
  data: string | Buffer,
  durable: boolean,
): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  if (durable) await fsyncDirAsync(dirname(path));
}

/** `unlinkIfExists` off the event loop. */
export async function unlinkIfExistsAsync(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Parsed JSON of `path`, or undefined when it does not exist. */
export function readJsonIfExists<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** Removes a file; absent is fine. */
export function unlinkIfExists(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
