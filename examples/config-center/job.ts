/**
 * A configuration center: the latest value of every configuration key, and its full, versioned
 * history, read back with prefix scans.
 *
 * Commands on `config-commands` (JSON, keyed by the configuration key, so one task owns a key):
 * - `{ op: 'set', key, value, author? }`: a new version (1, 2, 3, … per key) becomes current;
 *   setting the value it already has changes nothing.
 * - `{ op: 'delete', key, author? }`: a new version that records the deletion; the key has no
 *   current value until set again.
 * - `{ op: 'rollback', key, version, author? }`: a new version whose value is that of `version`.
 * - `{ op: 'history', key, requestId, limit? }`: answers on `config-history` with the newest
 *   `limit` versions (default all), oldest first.
 *
 * Every change goes to `config-changes`, keyed by the configuration key: the value, or a tombstone
 * (null) for a delete, so a compacted `config-changes` is the current configuration, which
 * services read at start and then follow.
 *
 * Stores: `current` (key → `ConfigVersion`) and `history` (`<key>\0<version, 10 digits>` →
 * `ConfigVersion`). The string serde orders keys by bytes, so a key's versions are adjacent and in
 * version order; `history.prefix('<key>\0')` lists exactly that key's versions (the NUL separator
 * keeps `app` from matching `app.timeout`, so keys may not contain NUL).
 *
 * A bad command (unknown op, no key, a key with NUL, a set without a value, a rollback to a
 * version that does not exist) throws: `onError: 'dead-letter'`.
 */
// The package's public entry (`eddy` once installed): the only place the example imports Eddy.
import {
  defineJob,
  type IncomingEnvelope,
  type KeyValueStore,
  type MessageCollector,
  type StreamTask,
  serdes,
  type TaskContext,
} from '../../src/index.js';

export type ConfigCommand =
  | { op: 'set'; key: string; value: unknown; author?: string }
  | { op: 'delete'; key: string; author?: string }
  | { op: 'rollback'; key: string; version: number; author?: string }
  | { op: 'history'; key: string; requestId: string; limit?: number };

/** One version of a key. `deleted` versions have no value. */
export interface ConfigVersion {
  key: string;
  version: number;
  value?: unknown;
  deleted?: true;
  author?: string;
  /** Timestamp of the command that made it. */
  at: number;
}

export interface ConfigHistory {
  requestId: string;
  key: string;
  versions: ConfigVersion[];
}

export class BadConfigCommandError extends Error {
  override name = 'BadConfigCommandError';
}

/** The `history` store's key of a version: `<key>\0<version, 10 digits>` (sorts by version). */
export function historyKey(key: string, version: number): string {
  return `${key}\u0000${String(version).padStart(10, '0')}`;
}

/** Every version of `key`, oldest first: a prefix scan of the `history` store. */
export function versionsOf(history: KeyValueStore<string, ConfigVersion>, key: string): ConfigVersion[] {
  const it = history.prefix(`${key}\u0000`);
  try {
    return [...it].map((e) => e.value);
  } finally {
    it.close();
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class ConfigTask implements StreamTask {
  private current!: KeyValueStore<string, ConfigVersion>;
  private history!: KeyValueStore<string, ConfigVersion>;

  init(ctx: TaskContext): void {
    this.current = ctx.store('current');
    this.history = ctx.store('history');
  }

  process(envelope: IncomingEnvelope, out: MessageCollector): void {
    const cmd = envelope.value as ConfigCommand;
    if (typeof cmd !== 'object' || cmd === null) throw new BadConfigCommandError('command is not an object');
    const key = cmd.key;
    if (typeof key !== 'string' || key === '' || key.includes('\u0000')) {
      throw new BadConfigCommandError(`${cmd.op} needs a key without NUL characters`);
    }
    if (cmd.op === 'history') {
      if (typeof cmd.requestId !== 'string') throw new BadConfigCommandError('history needs a requestId');
      const all = versionsOf(this.history, key);
      const versions = cmd.limit === undefined ? all : all.slice(Math.max(0, all.length - cmd.limit));
      const answer: ConfigHistory = { requestId: cmd.requestId, key, versions };
      out.send({ topic: 'config-history', key, value: answer });
      return;
    }
    const latest = this.lastVersion(key);
    const next: ConfigVersion = { key, version: (latest?.version ?? 0) + 1, at: envelope.timestamp };
    if (cmd.author !== undefined) next.author = cmd.author;
    switch (cmd.op) {
      case 'set':
        if (cmd.value === undefined) throw new BadConfigCommandError(`set of "${key}" needs a value`);
        if (latest && !latest.deleted && sameValue(latest.value, cmd.value)) return;
        next.value = cmd.value;
        break;
      case 'rollback': {
        const target = Number.isInteger(cmd.version)
          ? this.history.get(historyKey(key, cmd.version))
          : undefined;
        if (!target)
          throw new BadConfigCommandError(`"${key}" has no version ${cmd.version} to roll back to`);
        if (target.deleted) next.deleted = true;
        else next.value = target.value;
        break;
      }
      case 'delete':
        if (!latest || latest.deleted) return;
        next.deleted = true;
        break;
      default:
        throw new BadConfigCommandError(`unknown op ${JSON.stringify((cmd as { op: unknown }).op)}`);
    }
    this.history.put(historyKey(key, next.version), next);
    if (next.deleted) this.current.delete(key);
    else this.current.put(key, next);
    out.send({ topic: 'config-changes', key, value: next.deleted ? null : next });
  }

  /** The newest version of `key`, deleted or not (the current store drops deleted keys). */
  private lastVersion(key: string): ConfigVersion | undefined {
    const current = this.current.get(key);
    if (current) return current;
    const versions = versionsOf(this.history, key);
    return versions[versions.length - 1];
  }
}

export default defineJob({
  name: 'config-center',
  inputs: ['config-commands'],
  outputs: ['config-changes', 'config-history'],
  stores: {
    current: { key: serdes.string, value: serdes.json<ConfigVersion>() },
    history: { key: serdes.string, value: serdes.json<ConfigVersion>() },
  },
  task: () => new ConfigTask(),
  onError: 'dead-letter',
});
