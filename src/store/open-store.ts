/**
 * `openStore`: validates the options once, opens the engine, and builds the stack — in ONE place,
 * `buildStack` below. The returned `Store` is a `KeyValueStore` plus the runtime's hooks (metrics,
 * the changelog marker, commit, restore, wipe).
 *
 * Durability: a write is in memory (the cache) until a flush, a full write batch, or an eviction
 * hands it down; then it is in the engine and queued to the changelog; `flush()`/`commit()` resolve
 * once the changelog acknowledged it and the engine synced. What survives a crash is what the
 * changelog acknowledged: the marker tells the runtime whether the local engine can be trusted.
 */
import { InvalidArgumentError, StoreClosedError } from '../util/errors.js';
import { CachedStore } from './cached-store.js';
import type { ChangelogMarker } from './changelog-marker.js';
import { EngineStore } from './engine-store.js';
import { openEngineAsync } from './engines/index.js';
import { LoggedStore } from './logged-store.js';
import { type CounterSource, MeteredStore, type StoreLatency, type StoreMetrics } from './metered-store.js';
import { SerializedStore } from './serialized-store.js';
import { spanTotals } from './span-batch.js';
import { type ResolvedStoreOptions, resolveStoreOptions, type StoreOptions } from './store-options.js';
import { stampIsLive, TtlStore } from './ttl-store.js';
import type {
  ChangelogRecord,
  ChangelogSink,
  KeyValueIterator,
  KeyValueStore,
  SpanBatch,
  StorageEngine,
  WriteOp,
} from './types.js';
import type { BytesLayer } from './wrapped-store.js';

/** A changelog record to restore: a put, or a delete when `value` is null. */
export interface RestoreRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
  readonly offset: number;
}

/** Changelog records to restore as byte spans (the log's `RecordSpans`): `offsets[i]` is op i's. */
export interface RestoreSpans extends SpanBatch {
  readonly offsets: Float64Array;
}

/** What `openStore` returns. */
export interface Store<K, V> extends KeyValueStore<K, V> {
  /** A plain snapshot of the store's counters. */
  metrics(): StoreMetrics;
  /** Latency histograms: gets and puts sampled (one in 64), every flush. */
  latency(): StoreLatency;
  /**
   * The marker kept in the engine's metadata, written in the same engine transaction as the data
   * (undefined: no changelog, or nothing recorded yet):
   * - `{ offset: N, clean: true }`: the engine holds exactly the state after changelog offset N
   *   (-1: the empty changelog). Written by `commit()` (and `close()`) once the changelog
   *   acknowledged every record of every engine write, and by each `restore` batch.
   * - `{ offset: N, clean: false }`: the engine took writes after offset N that no changelog ack
   *   covered when they were written (the first such write flips the marker, in its own
   *   transaction). Such a store must be wiped and rebuilt from the changelog before it is trusted.
   */
  changelogPosition(): ChangelogMarker | undefined;
  /**
   * Flushes the cache, the changelog and the engine, then records the clean marker at the
   * changelog's last offset, which it returns (undefined when the store has no changelog or the
   * changelog is empty). If the store was written while waiting for the changelog, the marker
   * stays not clean (the next commit cleans it).
   *
   * `durable`, from a runtime whose commit goes on after this returns (the checkpoint, an
   * exactly-once transaction), settles true once that commit is durable and false if it failed:
   * a local copy the engine takes at this point (a memory snapshot file) is published only then.
   * Without it the commit is durable when this resolves.
   */
  commit(options?: { durable?: Promise<boolean> }): Promise<number | undefined>;
  /**
   * Applies changelog records straight to the engine (not the changelog, not the cache, which is
   * invalidated), in batches, each batch in one engine transaction with the marker of its last
   * offset. Call it on a store whose marker is clean or absent; a store that is not clean must be
   * `wipe()`d first (`InvalidArgumentError` otherwise). Counts restore metrics.
   */
  restore(records: Iterable<RestoreRecord>): void;
  /**
   * `restore` of records as byte spans (a restore from a log that reads them so, see
   * `Log.readSpans`): the same batches and markers, with no object per record. Records without a
   * key are skipped.
   */
  restoreSpans(blocks: readonly RestoreSpans[]): void;
  /** Removes every entry, the cache and the marker (before a full rebuild). */
  wipe(): Promise<void>;
  /**
   * Sends the engine's current value of each key (a tombstone when it has none) to the changelog
   * again, without touching the engine; `commit()` then makes them durable. The runtime uses it to
   * cancel changelog records written after the last checkpoint by a run that crashed: once relogged,
   * the changelog's latest value of every key is the checkpointed one again. Call it on a store that
   * has just been restored (nothing cached); a store without a changelog ignores it.
   */
  relog(keys: Iterable<Uint8Array>): void;
}

/** The layers of one store, bottom to top; `top` is what users call. */
export interface StoreStack<K, V> {
  readonly engineStore: EngineStore;
  readonly logged: LoggedStore | undefined;
  readonly cached: CachedStore | undefined;
  readonly ttl: TtlStore | undefined;
  readonly metered: MeteredStore;
  readonly top: SerializedStore<K, V>;
}

/**
 * THE place where the stack is assembled. From the user down:
 *
 *   serde → metrics → ttl → cache → changelog (logged) → engine
 *
 * - serde on top: a key or value that cannot be encoded, or a record too large, fails at the call
 *   that wrote it (never later at a flush), and everything below is bytes (one encoding per op).
 *   It also means the cache holds bytes, so cached values are never aliased by user objects.
 * - metrics right below the serde: it counts the real bytes, and sees every user call. Inserts and
 *   updates are told apart by the cache (it holds or just read the key; `isLive` is the TTL test on
 *   the stamped bytes it holds); without a cache the metrics layer asks the layer below (one lookup
 *   per put).
 * - ttl above the cache: the expiry stamp is part of the value bytes, so the cache, the changelog
 *   and a restore all carry it; reads check it even on cache hits.
 * - cache above the changelog: coalesced writes reach the changelog once per flush.
 * - no cache by default over the `memory` engine (no `cacheBytes` default there): its get is a
 *   hash probe and a copy, cheaper than the LRU's own bookkeeping, and the write-back only delays
 *   writes to an engine that takes them just as fast; with 1M keys the cache measured a 9.5% hit
 *   rate and ~17% of the time of scenario 3. What the changelog loses is the coalescing of hot keys
 *   (one record per write instead of one per key per flush, as Kafka Streams with its cache off);
 *   a store that wants it back sets `cacheBytes`, which is honoured on every engine.
 * - the cache is sized in bytes (`cacheBytes`, and `cacheSize` entries if given), optionally under
 *   a `CacheBudget` shared with other stores, which the inserting cache pays for by evicting.
 * - changelog log-AFTER the engine write (as Kafka Streams; Samza logs before): the changelog
 *   never holds a write the engine refused, and an engine write whose record never reached the
 *   changelog is covered by the marker, which that very engine write turned "not clean".
 * - deferred engine writes on a changelogged store whose engine persists each write as it returns
 *   (lmdb, rocksdb; not the memory engine, whose snapshot files wait for durable commits
 *   themselves): the engine layer holds the writes until the commit that covers them is durable
 *   (see `EngineStore`), so a crash never leaves the local copy ahead of every checkpoint. The
 *   engine write then follows the changelog instead; a key the engine would refuse is still
 *   refused when it is written (`checkKey`), so the changelog never holds it either. The cache
 *   checks keys the same way (on every engine with a `checkKey`), so a refused key fails its own
 *   `put`, never a later flush.
 */
export function buildStack<K, V>(engine: StorageEngine, o: ResolvedStoreOptions<K, V>): StoreStack<K, V> {
  const engineStore = new EngineStore(engine, {
    name: o.name,
    trackChangelog: o.changelog !== undefined,
    ...(o.changelog !== undefined && engine.supports.persistent && engine.commitPoint === undefined
      ? {
          deferWrites: {
            maxBytes: DEFERRED_MAX_BYTES,
            applyBytes: DEFERRED_APPLY_BYTES,
            applyMs: DEFERRED_APPLY_MS,
          },
        }
      : {}),
  });
  let layer: BytesLayer = engineStore;
  const logged = o.changelog === undefined ? undefined : new LoggedStore(layer, o.changelog);
  if (logged) layer = logged;
  const cached =
    o.cacheSize > 0 && o.cacheBytes > 0
      ? new CachedStore(layer, {
          cacheSize: o.cacheSize,
          cacheBytes: o.cacheBytes,
          writeBatchSize: o.writeBatchSize,
          ...(o.cacheBudget === undefined ? {} : { budget: o.cacheBudget }),
          ...(o.ttlMs === undefined ? {} : { isLive: stampIsLive(o.now) }),
          ...(engine.checkKey === undefined ? {} : { checkKey: engine.checkKey.bind(engine) }),
        })
      : undefined;
  if (cached) layer = cached;
  const ttl = o.ttlMs === undefined ? undefined : new TtlStore(layer, { ttlMs: o.ttlMs, now: o.now });
  if (ttl) layer = ttl;
  const sources: CounterSource[] = [];
  if (cached) sources.push(() => cached.counters() as unknown as Record<string, number>);
  if (ttl) sources.push(() => ttl.counters());
  const below = layer;
  // without a cache the metrics layer asks below whether a put's key exists: without TTL the
  // engine's `has` answers (no value copied out), or for a single put the engine's key count
  // before and after it, when the engine keeps one; with TTL the value's stamp decides
  const probe = cached
    ? undefined
    : ttl
      ? (key: Uint8Array) => below.get(key) !== undefined
      : (key: Uint8Array) => engineStore.has(key);
  const keyCount = cached || ttl ? undefined : engineStore.keyCounter();
  const metered = new MeteredStore(layer, sources, probe, keyCount);
  const top = new SerializedStore<K, V>(metered, o);
  return { engineStore, logged, cached, ttl, metered, top };
}

const RESTORE_BATCH = 100_000;
/** Pending deferred writes past this go down to the engine at once (its marker then not clean). */
const DEFERRED_MAX_BYTES = 64 << 20;
/** A durable commit point applies the deferred writes once this much is pending, or this long passed. */
const DEFERRED_APPLY_BYTES = 16 << 20;
const DEFERRED_APPLY_MS = 10_000;

/** The store users get: the top of the stack plus the runtime's hooks. */
export class LayeredStore<K, V> implements Store<K, V> {
  private readonly top: SerializedStore<K, V>;
  private readonly engineStore: EngineStore;
  private readonly changelog: ChangelogSink | undefined;

  constructor(
    readonly stack: StoreStack<K, V>,
    changelog: ChangelogSink | undefined,
  ) {
    this.top = stack.top;
    this.engineStore = stack.engineStore;
    this.changelog = changelog;
  }

  get name(): string {
    return this.top.name;
  }
  get isOpen(): boolean {
    return this.top.isOpen;
  }
  get(key: K): V | undefined {
    return this.top.get(key);
  }
  getAll(keys: Iterable<K>): Map<K, V> {
    return this.top.getAll(keys);
  }
  put(key: K, value: V): void {
    this.top.put(key, value);
  }
  putAll(entries: Iterable<readonly [K, V]>): void {
    this.top.putAll(entries);
  }
  delete(key: K): void {
    this.top.delete(key);
  }
  deleteAll(keys: Iterable<K>): void {
    this.top.deleteAll(keys);
  }
  /** Puts and deletes (`value: null`) as one batch, checked and encoded whole first. */
  write(ops: readonly WriteOp<K, V>[]): void {
    this.top.write(ops);
  }
  range(from: K, to: K): KeyValueIterator<K, V> {
    return this.top.range(from, to);
  }
  prefix(prefix: K): KeyValueIterator<K, V> {
    return this.top.prefix(prefix);
  }
  all(): KeyValueIterator<K, V> {
    return this.top.all();
  }
  snapshot(from: K, to: K): KeyValueIterator<K, V> {
    return this.top.snapshot(from, to);
  }
  flush(): Promise<void> {
    return this.top.flush();
  }

  metrics(): StoreMetrics {
    return this.stack.metered.metrics();
  }

  /**
   * The byte view right below the serde layer (metrics, ttl, cache, changelog, engine): what the
   * runtime's interactive queries read, so they see the task's unflushed writes and count as reads.
   */
  get bytes(): BytesLayer {
    return this.stack.metered;
  }

  latency(): StoreLatency {
    return this.stack.metered.latency();
  }

  changelogPosition(): ChangelogMarker | undefined {
    const marker = this.engineStore.changelogMarker();
    return marker === undefined ? undefined : { offset: marker.offset, clean: marker.clean };
  }

  async commit(options: { durable?: Promise<boolean> } = {}): Promise<number | undefined> {
    await this.top.flush();
    const sink = this.changelog;
    if (sink === undefined) return undefined;
    const writes = this.engineStore.writes;
    const offset = await sink.flush();
    if (this.engineStore.writes === writes && this.engineStore.isOpen) {
      const target = offset ?? -1;
      const marker = this.engineStore.changelogMarker();
      if (!(marker?.clean && marker.offset === target)) {
        this.engineStore.markClean(target, options.durable);
        await this.engineStore.flush();
      }
    }
    return offset;
  }

  restore(records: Iterable<RestoreRecord>): void {
    this.checkRestorable();
    const started = performance.now();
    this.stack.cached?.invalidate();
    let ops: WriteOp<Uint8Array, Uint8Array>[] = [];
    let count = 0;
    let bytes = 0;
    let last = -1;
    for (const r of records) {
      ops.push(r);
      bytes += r.key.length + (r.value === null ? 0 : r.value.length);
      last = r.offset;
      if (ops.length >= RESTORE_BATCH) {
        this.engineStore.writeRestored(ops, last);
        count += ops.length;
        ops = [];
      }
    }
    if (ops.length > 0) {
      this.engineStore.writeRestored(ops, last);
      count += ops.length;
    }
    this.stack.metered.recordRestore(count, bytes, performance.now() - started);
  }

  restoreSpans(blocks: readonly RestoreSpans[]): void {
    this.checkRestorable();
    const started = performance.now();
    this.stack.cached?.invalidate();
    let count = 0;
    let bytes = 0;
    let group: RestoreSpans[] = [];
    let inGroup = 0;
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b];
      if (block.count === 0) continue;
      const totals = spanTotals(block);
      count += totals.ops;
      bytes += totals.bytes;
      group.push(block);
      inGroup += block.count;
      if (inGroup >= RESTORE_BATCH) {
        this.engineStore.writeRestoredSpans(group, block.offsets[block.count - 1]);
        group = [];
        inGroup = 0;
      }
    }
    if (group.length > 0) {
      const last = group[group.length - 1];
      this.engineStore.writeRestoredSpans(group, last.offsets[last.count - 1]);
    }
    this.stack.metered.recordRestore(count, bytes, performance.now() - started);
  }

  private checkRestorable(): void {
    if (!this.isOpen) throw new StoreClosedError(this.name);
    const marker = this.engineStore.changelogMarker();
    if (marker !== undefined && !marker.clean) {
      throw new InvalidArgumentError(
        `store "${this.name}" holds writes its changelog never acknowledged (marker at offset ${marker.offset}, not clean); wipe() it before restoring`,
      );
    }
  }

  async wipe(): Promise<void> {
    if (!this.isOpen) throw new StoreClosedError(this.name);
    this.stack.cached?.invalidate();
    this.engineStore.clear();
  }

  relog(keys: Iterable<Uint8Array>): void {
    if (!this.isOpen) throw new StoreClosedError(this.name);
    if (this.changelog === undefined) return;
    const records: ChangelogRecord[] = [];
    for (const key of keys) records.push({ key, value: this.engineStore.get(key) ?? null });
    if (records.length > 0) this.changelog.send(records);
  }

  /** Commits (flush + clean marker), then closes the engine. Idempotent. */
  async close(): Promise<void> {
    if (!this.isOpen) return;
    try {
      await this.commit();
    } finally {
      await this.top.close();
    }
  }
}

/** Opens (creating if needed) a store. See `StoreOptions` for the options and their defaults. */
export async function openStore<K, V>(options: StoreOptions<K, V>): Promise<Store<K, V>> {
  const o = resolveStoreOptions(options);
  const engine = await openEngineAsync(o.engine, {
    name: o.name,
    ...(o.dir === undefined || (o.engine === 'memory' && o.snapshotMs === undefined) ? {} : { dir: o.dir }),
    ...(o.expectedKeys === undefined ? {} : { expectedKeys: o.expectedKeys }),
    ...(o.snapshotMs === undefined ? {} : { snapshotMs: o.snapshotMs }),
  });
  return new LayeredStore(buildStack(engine, o), o.changelog);
}
