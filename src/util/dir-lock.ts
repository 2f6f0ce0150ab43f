/**
 * One owner per directory (the embedded log's data directory, a job's local state): an exclusive `LOCK` file holding the owner's pid, created with
 * `O_EXCL`. A second opener (another process, or this one opening the same directory twice) gets a
 * `LockedError` naming the directory and the pid. A lock left by a dead process (its pid no longer
 * exists) is stale: it is moved aside, checked to still be the stale one, and taken over. An empty
 * or unreadable lock file younger than 10 s is taken as being written (locked); an older one is
 * stale.
 *
 * Corner case: pid reuse — a stale lock whose pid now belongs to an unrelated live process reads as
 * held; delete `LOCK` by hand once sure no Eddy process uses the directory (the error says so).
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LockedError } from './errors.js';

const held = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export class DirLock {
  private released = false;
  private constructor(readonly path: string) {}

  /** Takes the lock of `dir` or throws `LockedError`. */
  static acquire(dir: string): DirLock {
    const path = join(dir, 'LOCK');
    if (held.has(path)) {
      throw new LockedError(`data directory ${dir} is already open in this process (pid ${process.pid})`);
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        held.add(path);
        return new DirLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const content = readLock(path);
      if (content === undefined) continue;
      const pid = Number.parseInt(content, 10);
      if (Number.isInteger(pid) && pid > 0) {
        if (pid !== process.pid && pidAlive(pid)) {
          throw new LockedError(
            `data directory ${dir} is locked by process ${pid}; stop that process, or delete ${path} if it is not an Eddy process`,
          );
        }
      } else {
        let age = 0;
        try {
          age = Date.now() - statSync(path).mtimeMs;
        } catch {}
        if (age < 10_000) throw new LockedError(`data directory ${dir} is being locked by another process`);
      }
      // Stale: move it aside, and make sure what we moved is the stale lock we read.
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (readLock(aside) !== content) {
        try {
          renameSync(aside, path);
        } catch {}
        continue;
      }
      unlinkSync(aside);
    }
    throw new LockedError(`could not lock data directory ${dir}: the lock changed hands repeatedly`);
  }

  /** The pid of the live process (not this one) holding the lock of `dir`, or undefined. */
  static holder(dir: string): number | undefined {
    const pid = Number.parseInt(readLock(join(dir, 'LOCK')) ?? '', 10);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) ? pid : undefined;
  }

  /** Removes the lock file. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    try {
      unlinkSync(this.path);
    } catch {}
  }
}
