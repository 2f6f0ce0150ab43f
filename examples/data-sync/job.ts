/**
 * Data sync, change-data-capture style: row changes of a source database (as Debezium emits them)
 * are mirrored into a store and sent on as a compacted stream of the tables' current rows.
 *
 * Input `cdc-events` (JSON `ChangeEvent`, keyed by `<table>:<primary key>`):
 * - `op` `c` (create), `u` (update) or `r` (snapshot read): upsert `after` as the row;
 * - `op` `d`: delete the row.
 * Each event carries the source's `lsn` (log sequence number, growing with every change of the
 * source). An event whose `lsn` is not above the row's last applied one is a replay or arrived
 * late, and is ignored, so redelivery (at-least-once) and a re-run snapshot are harmless. Deletes
 * leave a small marker with their `lsn` for that reason.
 *
 * The `mirror` store holds `<table>:<key>` → `{ row, lsn }` (or `{ deleted: true, lsn }`), and
 * every applied change goes to `mirror-out` keyed the same way: the row, or a tombstone (null) for
 * a delete — a topic that, compacted, is the current content of the mirrored tables. An upsert that
 * changes nothing in the row is not sent.
 *
 * A bad event (unknown op, no table or key, an upsert without `after`, no integer `lsn`, a
 * record key that is not `<table>:<key>`) throws: `onError: 'dead-letter'`.
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

export type Row = Record<string, unknown>;

export interface ChangeEvent {
  op: 'c' | 'u' | 'r' | 'd';
  table: string;
  /** The primary key, as text. */
  key: string;
  /** The row after the change (c, u, r). */
  after?: Row;
  /** The source's log sequence number of the change. */
  lsn: number;
}

/** What the `mirror` store keeps per row. */
export type MirrorEntry = { row: Row; lsn: number; deleted?: undefined } | { deleted: true; lsn: number };

export class BadChangeEventError extends Error {
  override name = 'BadChangeEventError';
}

/** The record key and store key of a row: `<table>:<key>`. */
export function rowKey(table: string, key: string): string {
  return `${table}:${key}`;
}

/** The current rows of one table, from the mirror store (a prefix scan), by key. */
export function tableRows(mirror: KeyValueStore<string, MirrorEntry>, table: string): Record<string, Row> {
  const rows: Record<string, Row> = {};
  const it = mirror.prefix(`${table}:`);
  try {
    for (const { key, value } of it) if (!value.deleted) rows[key.slice(table.length + 1)] = value.row;
  } finally {
    it.close();
  }
  return rows;
}

function parse(value: unknown, recordKey: unknown): ChangeEvent {
  if (typeof value !== 'object' || value === null) throw new BadChangeEventError('event is not an object');
  const e = value as ChangeEvent;
  if (!['c', 'u', 'r', 'd'].includes(e.op))
    throw new BadChangeEventError(`unknown op ${JSON.stringify(e.op)}`);
  if (typeof e.table !== 'string' || e.table === '' || e.table.includes(':')) {
    throw new BadChangeEventError('an event needs a table name without ":"');
  }
  if (typeof e.key !== 'string' || e.key === '') throw new BadChangeEventError('an event needs the row key');
  if (!Number.isSafeInteger(e.lsn)) throw new BadChangeEventError('an event needs an integer lsn');
  if (e.op !== 'd' && (typeof e.after !== 'object' || e.after === null)) {
    throw new BadChangeEventError(`op ${e.op} needs the row after the change ("after")`);
  }
  if (recordKey !== rowKey(e.table, e.key)) {
    throw new BadChangeEventError(`record key ${JSON.stringify(recordKey)} is not ${rowKey(e.table, e.key)}`);
  }
  return e;
}

function sameRow(a: Row, b: Row): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class DataSyncTask implements StreamTask {
  private mirror!: KeyValueStore<string, MirrorEntry>;
  private stale!: { inc(by?: number): void };

  init(ctx: TaskContext): void {
    this.mirror = ctx.store('mirror');
    this.stale = ctx.metrics.counter('stale');
  }

  process(envelope: IncomingEnvelope, out: MessageCollector): void {
    const e = parse(envelope.value, envelope.key);
    const key = rowKey(e.table, e.key);
    const known = this.mirror.get(key);
    if (known !== undefined && e.lsn <= known.lsn) {
      this.stale.inc();
      return;
    }
    if (e.op === 'd') {
      this.mirror.put(key, { deleted: true, lsn: e.lsn });
      if (known !== undefined && !known.deleted) out.send({ topic: 'mirror-out', key, value: null });
      return;
    }
    const row = e.after as Row;
    this.mirror.put(key, { row, lsn: e.lsn });
    if (known === undefined || known.deleted || !sameRow(known.row, row)) {
      out.send({ topic: 'mirror-out', key, value: row });
    }
  }
}

export default defineJob({
  name: 'data-sync',
  inputs: ['cdc-events'],
  outputs: ['mirror-out'],
  stores: { mirror: { key: serdes.string, value: serdes.json<MirrorEntry>() } },
  task: () => new DataSyncTask(),
  onError: 'dead-letter',
});
