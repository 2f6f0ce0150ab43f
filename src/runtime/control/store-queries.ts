/**
 * Interactive queries of a running job's stores (Kafka Streams' interactive queries, Samza has
 * none): a key, a key range or a key prefix of a store, answered from the task partitions open in
 * this process, and — unlike Kafka Streams, Samza or Flink — also while a partition restores.
 *
 * What an answer is:
 * - **The task's current values**: reads go through the store right below its serde layer
 *   (`LayeredStore.bytes`: metrics, ttl, cache, changelog, engine), so they see every write the
 *   task made, including those not committed yet (an at-least-once job that crashes before its
 *   next commit replays them; an exactly-once job's uncommitted writes are visible here although
 *   its changelog does not hold them yet). Each answer is read synchronously, in one turn of the
 *   event loop: a range over many partitions is one consistent cut between two messages.
 * - `changelogOffset`: the changelog offset the partition's state reflects — the last changelog
 *   record it has written (writes made since its last flush come on top), or while it restores the
 *   last record restored so far. `null`: no changelog, or nothing in it yet.
 * - **While a partition restores** it answers from what is restored so far, with
 *   `restoring: true`, `restored` and `total` (records applied, and to apply: an upper bound).
 *   A partition whose store is not open yet (the container opens tasks one by one) is
 *   `EDDY_UNAVAILABLE` (retriable).
 *
 * Keys arrive as text and go through the store's key serde (`keyEncoding`):
 * `string` (default) hands the text itself to the serde; `json` parses it first (`42`, `"a"`,
 * `{"id":1}`), for int64 or JSON keys; `hex` and `base64` are the serialized key bytes, which the
 * serde must be able to decode. A key the serde refuses is a `SerdeError` naming the serde. A
 * single key goes to the partition the job's partitioner (Kafka's murmur2 over the serialized
 * key, as for every record the job sends) picks; ranges and prefixes go over every partition and
 * merge in key order (serialized-key order, like `range` itself).
 *
 * The container feeds the registry through its events (`attach`): `partitions` (the task count),
 * `store-open` (a task's store, before it restores), `restore` (progress), `store-close`.
 * `shutdown()` turns every later query into `EDDY_UNAVAILABLE`.
 *
 * Standby copies (Kafka's standby tasks, kafka-group/standby-task.ts) register apart
 * (`addStandby`): a query reads them only when asked to (`{ standby: true }`), and its answer
 * says `standby: true` and the changelog offset the copy has applied (the caller compares it with
 * the changelog's end to say how stale it is). Which process owns a partition is not this
 * registry's business: the HTTP layer forwards (http/query-router.ts).
 */
import type { EventEmitter } from 'node:events';
import type { Entry } from '../../store/types.js';
import { compareBytes, prefixEnd } from '../../util/bytes.js';
import {
  InvalidArgumentError,
  JobError,
  SerdeError,
  UnavailableError,
  UnknownStoreError,
} from '../../util/errors.js';
import { partitionForKey } from '../../util/murmur2.js';
import type { Codec, JobDefinition } from '../job.js';
import type { RestoreProgress } from '../restore.js';

export const KEY_ENCODINGS = ['string', 'json', 'hex', 'base64'] as const;
export type KeyEncoding = (typeof KEY_ENCODINGS)[number];

/** Most entries one range or prefix answer holds; `limit` defaults to it too. */
export const MAX_QUERY_LIMIT = 10_000;
export const DEFAULT_QUERY_LIMIT = 1000;

/** The byte view of a store that queries read: unbounded range ends are `undefined`. */
export interface QueryableBytes {
  get(key: Uint8Array): Uint8Array | undefined;
  range(
    from: Uint8Array | undefined,
    to: Uint8Array | undefined,
  ): Iterator<Entry<Uint8Array, Uint8Array>> & {
    close(): void;
  };
}

/** What the container's `store-open` event carries. */
export interface StoreOpenEvent {
  readonly name: string;
  readonly partition: number;
  readonly store: {
    readonly bytes: QueryableBytes;
    changelogPosition(): { offset: number; clean: boolean } | undefined;
  };
  /** The changelog sink: `lastOffset` is the last changelog record written. */
  readonly sink?: { readonly lastOffset: number };
  /** True when the store will be restored from its changelog before the task runs. */
  readonly restoring: boolean;
}

interface OpenPartition {
  event: StoreOpenEvent;
  restoring: boolean;
  restored: number;
  total: number | undefined;
}

/** Where one answer comes from. */
export interface PartitionState {
  readonly partition: number;
  readonly changelogOffset: number | null;
  readonly restoring: boolean;
  /** While restoring: records applied so far, and to apply (an upper bound; null until known). */
  readonly restored?: number;
  readonly total?: number | null;
}

/** The answer to a key lookup. `value` is undefined when the key is absent. */
export interface KeyAnswer extends PartitionState {
  readonly store: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
}

export interface RangeEntry {
  readonly partition: number;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** The answer to a range or prefix query: entries in key order, at most `limit`. */
export interface RangeAnswer {
  readonly store: string;
  readonly entries: RangeEntry[];
  /** True when more entries follow the last one (ask again from just after its key). */
  readonly more: boolean;
  readonly partitions: PartitionState[];
}

export interface StatsAnswer {
  readonly store: string;
  readonly partitions: (PartitionState & { keys: number; keyBytes: number; valueBytes: number })[];
}

export interface KeyOptions {
  keyEncoding?: KeyEncoding;
}

export interface GetOptions extends KeyOptions {
  /** Read this partition instead of the partitioner's choice. */
  partition?: number;
}

/** A standby copy of a task's store, as standby-task.ts registers it. */
export interface StandbyOpenEvent {
  readonly name: string;
  readonly partition: number;
  readonly store: StoreOpenEvent['store'];
  /** `lastOffset`: the last changelog record the copy has applied. */
  readonly sink: { readonly lastOffset: number };
}

export interface RangeOptions extends KeyOptions {
  /** Inclusive lower bound (text in `keyEncoding`); absent: from the first key. */
  from?: string;
  /** Exclusive upper bound; absent: to the last key. */
  to?: string;
  /** Raw bounds (the control socket's paging); they win over `from`/`to`. */
  fromBytes?: Uint8Array;
  toBytes?: Uint8Array;
  limit?: number;
  /** Only these partitions (default every open one). */
  partitions?: readonly number[];
}

function serdeName(codec: Codec<unknown>): string {
  return (codec as { name?: string }).name ?? 'custom';
}

/** `value` as JSON-safe data: bigints become decimal strings, bytes base64 (`binary` says so). */
export function jsonSafe(value: unknown): { json: unknown; binary: boolean } {
  if (value instanceof Uint8Array) return { json: Buffer.from(value).toString('base64'), binary: true };
  let binary = false;
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array || (v as { type?: string })?.type === 'Buffer') {
      binary = true;
      return Buffer.from(v instanceof Uint8Array ? v : (v as { data: number[] }).data).toString('base64');
    }
    return v;
  });
  return { json: text === undefined ? null : JSON.parse(text), binary };
}

export class StoreQueries {
  private readonly open = new Map<string, OpenPartition>();
  private readonly standbys = new Map<string, StandbyOpenEvent>();
  private taskCount: number | undefined;
  private closed = false;

  constructor(readonly job: JobDefinition) {}

  /** The job's task count (partitions of every store), once the container knows it. */
  get partitions(): number | undefined {
    return this.taskCount;
  }

  get isShutDown(): boolean {
    return this.closed;
  }

  /** Follows a container's events; returns the function that stops following. */
  attach(container: Pick<EventEmitter, 'on' | 'off'>): () => void {
    const onPartitions = (n: number) => {
      this.taskCount = n;
    };
    const onOpen = (e: StoreOpenEvent) => this.add(e);
    const onRestore = (p: RestoreProgress) => this.progress(p);
    const onClose = (e: { name: string; partition: number }) => this.remove(e.name, e.partition);
    container.on('partitions', onPartitions);
    container.on('store-open', onOpen);
    container.on('restore', onRestore);
    container.on('store-close', onClose);
    return () => {
      container.off('partitions', onPartitions);
      container.off('store-open', onOpen);
      container.off('restore', onRestore);
      container.off('store-close', onClose);
    };
  }

  /** Sets the task count (a Kafka worker knows it before any container runs here). */
  setTaskCount(n: number): void {
    this.taskCount = n;
  }

  /** True when partition `p` of `store` is open here as an active task (restoring or not). */
  isOpen(store: string, p: number): boolean {
    return this.open.has(`${store}/${p}`);
  }

  /** True when this process holds a standby copy of partition `p` of `store`. */
  hasStandby(store: string, p: number): boolean {
    return this.standbys.has(`${store}/${p}`);
  }

  addStandby(e: StandbyOpenEvent): void {
    this.standbys.set(`${e.name}/${e.partition}`, e);
  }

  removeStandby(name: string, partition: number): void {
    this.standbys.delete(`${name}/${partition}`);
  }

  /**
   * `getBytes` from this process's standby copy of `partition`: `standby: true`, and
   * `changelogOffset` is the last changelog record the copy applied.
   */
  getStandbyBytes(store: string, key: Uint8Array, partition: number): KeyAnswer & { standby: true } {
    this.spec(store);
    const e = this.standbys.get(`${store}/${partition}`);
    if (e === undefined) {
      throw new UnavailableError(
        `this process holds no standby copy of partition ${partition} of store "${store}"`,
      );
    }
    const offset = e.sink.lastOffset;
    return {
      store,
      key,
      value: e.store.bytes.get(key),
      partition,
      changelogOffset: offset < 0 ? null : offset,
      restoring: false,
      standby: true,
    };
  }

  add(e: StoreOpenEvent): void {
    this.open.set(`${e.name}/${e.partition}`, {
      event: e,
      restoring: e.restoring,
      restored: 0,
      total: undefined,
    });
  }

  progress(p: RestoreProgress): void {
    const o = this.open.get(`${p.store}/${p.partition}`);
    if (o === undefined) return;
    o.restored = p.restored;
    o.total = p.total;
    if (p.done) o.restoring = false;
  }

  remove(name: string, partition: number): void {
    this.open.delete(`${name}/${partition}`);
  }

  /** Every later query fails with `EDDY_UNAVAILABLE` (the job is stopping). Idempotent. */
  shutdown(): void {
    this.closed = true;
    this.open.clear();
    this.standbys.clear();
  }

  /** The partitions of `store` open in this process, in order. */
  openPartitions(store: string): number[] {
    this.spec(store);
    return this.partitionsOf(store).map((o) => o.event.partition);
  }

  /** The store names of the job. */
  storeNames(): string[] {
    return Object.keys(this.job.stores);
  }

  /** The key `text` (in `encoding`) as the store's serialized key; throws `SerdeError` naming the serde. */
  encodeKey(store: string, text: string, encoding: KeyEncoding = 'string'): Uint8Array {
    const codec = this.spec(store).key;
    const serde = serdeName(codec);
    const refuse = (err: unknown, what: string): never => {
      throw new SerdeError(
        `key ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)} ${what} store "${store}"'s key serde (${serde}): ${(err as Error).message}${encoding === 'string' ? '; for non-string keys pass keyEncoding=json (e.g. 42 or {"id":1}), hex or base64' : ''}`,
        { cause: err },
      );
    };
    if (encoding === 'hex' || encoding === 'base64') {
      if (encoding === 'hex' && !/^(?:[0-9a-fA-F]{2})*$/.test(text)) {
        throw new SerdeError(`key "${text}" is not hexadecimal (keyEncoding=hex), for store "${store}"`);
      }
      if (encoding === 'base64' && !/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
        throw new SerdeError(`key "${text}" is not base64 (keyEncoding=base64), for store "${store}"`);
      }
      const bytes = Buffer.from(text, encoding === 'hex' ? 'hex' : 'base64');
      try {
        codec.decode(bytes);
      } catch (err) {
        refuse(err, 'cannot be decoded by');
      }
      return bytes;
    }
    let key: unknown = text;
    if (encoding === 'json') {
      try {
        key = JSON.parse(text);
      } catch (err) {
        throw new SerdeError(`key ${text} is not JSON (keyEncoding=json), for store "${store}"`, {
          cause: err,
        });
      }
    } else if (encoding !== 'string') {
      throw new InvalidArgumentError(
        `keyEncoding must be one of ${KEY_ENCODINGS.join(', ')}, got "${encoding}"`,
      );
    }
    try {
      return codec.encode(key);
    } catch (err) {
      return refuse(err, 'is refused by');
    }
  }

  /** The partition the job's partitioner picks for a serialized key. */
  partitionOf(key: Uint8Array): number {
    const n = this.taskCount;
    if (n === undefined) throw new UnavailableError('the job is starting: its partitions are not known yet');
    return partitionForKey(key, n);
  }

  /** Looks a key up in its partition (or `options.partition`). */
  get(store: string, key: string, options: GetOptions = {}): KeyAnswer {
    const bytes = this.encodeKey(store, key, options.keyEncoding);
    return this.getBytes(store, bytes, options.partition);
  }

  /** `get` of a serialized key. */
  getBytes(store: string, key: Uint8Array, partition?: number): KeyAnswer {
    this.spec(store);
    const p = partition ?? this.partitionOf(key);
    const o = this.openPartition(store, p);
    const value = o.event.store.bytes.get(key);
    return { store, key, value, ...this.state(o) };
  }

  /** Entries with `from <= key < to` over the partitions, merged in key order. */
  range(store: string, options: RangeOptions = {}): RangeAnswer {
    const enc = options.keyEncoding;
    const from =
      options.fromBytes ??
      (options.from === undefined ? undefined : this.encodeKey(store, options.from, enc));
    const to =
      options.toBytes ?? (options.to === undefined ? undefined : this.encodeKey(store, options.to, enc));
    return this.scan(store, from, to, options);
  }

  /** Entries whose serialized key starts with the serialized `prefix`, merged in key order. */
  prefix(
    store: string,
    prefix: string,
    options: Omit<RangeOptions, 'from' | 'to' | 'toBytes'> = {},
  ): RangeAnswer {
    const p = this.encodeKey(store, prefix, options.keyEncoding);
    return this.scan(store, options.fromBytes ?? p, prefixEnd(p), options);
  }

  /** Keys and bytes of every open partition of `store` (reads them all: not for hot paths). */
  stats(store: string): StatsAnswer {
    this.spec(store);
    const out: StatsAnswer['partitions'] = [];
    for (const o of this.partitionsOf(store)) {
      let keys = 0;
      let keyBytes = 0;
      let valueBytes = 0;
      const it = o.event.store.bytes.range(undefined, undefined);
      try {
        for (let r = it.next(); !r.done; r = it.next()) {
          keys++;
          keyBytes += r.value.key.length;
          valueBytes += r.value.value.length;
        }
      } finally {
        it.close();
      }
      out.push({ ...this.state(o), keys, keyBytes, valueBytes });
    }
    return { store, partitions: out };
  }

  /** Decodes a stored key or value through the store's serdes into JSON-safe data. */
  decode(store: string, what: 'key' | 'value', bytes: Uint8Array): { json: unknown; binary: boolean } {
    const codec = this.spec(store)[what];
    let decoded: unknown;
    try {
      decoded = codec.decode(bytes);
    } catch (err) {
      throw new JobError(
        `a stored ${what} of store "${store}" cannot be decoded by its ${what} serde (${serdeName(codec)}): ${(err as Error).message}`,
        { cause: err },
      );
    }
    return jsonSafe(decoded);
  }

  private scan(
    store: string,
    from: Uint8Array | undefined,
    to: Uint8Array | undefined,
    options: RangeOptions,
  ): RangeAnswer {
    this.spec(store);
    const limit = options.limit ?? DEFAULT_QUERY_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
      throw new InvalidArgumentError(`limit must be an integer in 1..${MAX_QUERY_LIMIT}, got ${limit}`);
    }
    const parts =
      options.partitions === undefined
        ? this.partitionsOf(store)
        : options.partitions.map((p) => this.openPartition(store, p));
    const entries: RangeEntry[] = [];
    let more = false;
    if (from === undefined || to === undefined || compareBytes(from, to) < 0) {
      const iters = parts.map((o) => o.event.store.bytes.range(from, to));
      try {
        const heads = iters.map((it) => it.next());
        for (;;) {
          let best = -1;
          for (let i = 0; i < heads.length; i++) {
            const h = heads[i];
            if (h.done) continue;
            if (
              best < 0 ||
              compareBytes(h.value.key, (heads[best].value as Entry<Uint8Array, Uint8Array>).key) < 0
            )
              best = i;
          }
          if (best < 0) break;
          if (entries.length >= limit) {
            more = true;
            break;
          }
          const e = heads[best].value as Entry<Uint8Array, Uint8Array>;
          entries.push({ partition: parts[best].event.partition, key: e.key, value: e.value });
          heads[best] = iters[best].next();
        }
      } finally {
        for (const it of iters) it.close();
      }
    }
    return { store, entries, more, partitions: parts.map((o) => this.state(o)) };
  }

  private spec(store: string): JobDefinition['stores'][string] {
    if (this.closed) throw new UnavailableError('the job is shutting down; queries are no longer answered');
    const spec = Object.hasOwn(this.job.stores, store) ? this.job.stores[store] : undefined;
    if (spec === undefined) throw new UnknownStoreError(store, this.storeNames());
    return spec;
  }

  private openPartition(store: string, p: number): OpenPartition {
    const o = this.open.get(`${store}/${p}`);
    if (o !== undefined) return o;
    const n = this.taskCount;
    if (n !== undefined && (!Number.isInteger(p) || p < 0 || p >= n)) {
      throw new InvalidArgumentError(
        `store "${store}" has partitions 0..${n - 1}; partition ${p} does not exist`,
      );
    }
    throw new UnavailableError(
      `partition ${p} of store "${store}" is not open in this process (the job is starting, or another worker owns it); try again`,
    );
  }

  private partitionsOf(store: string): OpenPartition[] {
    const out: OpenPartition[] = [];
    for (const o of this.open.values()) if (o.event.name === store) out.push(o);
    return out.sort((a, b) => a.event.partition - b.event.partition);
  }

  private state(o: OpenPartition): PartitionState {
    const { event } = o;
    let offset: number | undefined;
    if (o.restoring || event.sink === undefined) offset = event.store.changelogPosition()?.offset;
    else offset = event.sink.lastOffset;
    const changelogOffset = offset === undefined || offset < 0 ? null : offset;
    return o.restoring
      ? {
          partition: event.partition,
          changelogOffset,
          restoring: true,
          restored: o.restored,
          total: o.total ?? null,
        }
      : { partition: event.partition, changelogOffset, restoring: false };
  }
}
