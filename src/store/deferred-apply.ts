/**
 * Deferred writes of a changelogged store (`EngineStore`'s `deferWrites`): the store's puts and
 * deletes wait in `PendingWrites` (which its reads look at first) until a commit point that covers
 * them is durable, then go to the engine in one transaction with the clean changelog marker of that
 * point. So after a crash at any instant the engine holds the state of a durable commit point,
 * which a restart reuses or replays from, never rebuilds from the whole changelog.
 *
 * - `point(offset, durable)` notes a commit point covering every op taken so far. Once `durable`
 *   resolves true, its ops apply if `applyBytes` are pending or `applyMs` passed since the last
 *   apply; else the point waits in `confirmed` and a later one takes its ops too (fewer, larger
 *   transactions: a B+tree transaction of random keys rewrites most leaf pages whatever its size;
 *   on lmdb, scenario 3 of the runtime benchmark ran at 44k msgs/s with one ~50k-op transaction
 *   per commit and at 57k with ~95k-op ones), and a crash replays at most that much changelog.
 *   `durable` false: they stay pending, and a failed commit's store is closed without them. No
 *   `durable` (a store used alone, `close`): they apply at once.
 * - On an engine that writes in the background (`writeInBackground` and `settle`: lmdb, whose
 *   writer thread commits the transaction), a point's ops stay pending, so reads see them, until its
 *   write lands; one write is in flight at a time, and a point that comes meanwhile waits and goes
 *   when it lands, carrying everything pending by then.
 * - `writeDown()` (an ordered read, a restore, or more than `maxBytes` pending) puts everything
 *   pending in the engine at once with the marker not clean (a crash then rebuilds). A point whose
 *   ops were overtaken that way is not marked clean; the first durable point past them applies at
 *   once, whatever is pending, so the engine is clean again one commit later. Past `maxBytes` the
 *   store first waits for the write in flight and applies the point waiting behind it, so the
 *   engine stays clean when that is enough.
 * - A failed engine write (here, or in the background) is kept in `failure`: the store is unusable
 *   (every later call throws it) until `clear()`.
 */
import { EngineError } from '../util/errors.js';
import { encodeMarker } from './changelog-marker.js';
import { PendingWrites } from './pending-writes.js';
import type { StorageEngine, WriteOp } from './types.js';

/** When a durable point applies, and how much may wait (`EngineStoreOptions.deferWrites`). */
export interface DeferOptions {
  readonly maxBytes: number;
  readonly applyBytes: number;
  readonly applyMs: number;
}

/** A durable point whose ops the engine writes in the background. */
interface InFlight {
  readonly end: number;
  readonly count: number;
  /** Settles once the handlers of the write have run. */
  readonly done: Promise<void>;
}

export class DeferredApply {
  /** The ops the engine does not hold yet (in flight included), which the store's reads see. */
  readonly pending = new PendingWrites();
  private lastApply = performance.now();
  /** The last durable point not applied yet (it waits for a larger one, or for `close`). */
  private confirmed: { end: number; offset: number } | undefined;
  /** Ops numbered below this are in the engine (applied at a point, or written down early). */
  private appliedEnd = 0;
  /** Ops numbered below this were written down early, with the marker not clean. */
  private forcedEnd = 0;
  /** The engine's marker is not clean since an early write-down: the next durable point applies at once. */
  private engineDirty = false;
  /** Bumped by `clear()` and `close()`: a durable point noted before must not apply. */
  private epoch = 0;
  private closed = false;
  private failed: EngineError | undefined;
  /** The engine writes in the background (`writeInBackground`, lmdb). */
  private readonly background: boolean;
  /** The durable point whose ops the engine is writing in the background (they stay pending until it lands). */
  private inflight: InFlight | undefined;

  constructor(
    private readonly engine: StorageEngine,
    private readonly name: string,
    private readonly options: DeferOptions,
    /** The changelog offset of the store's marker now (-1: none), for a not-clean marker. */
    private readonly markerOffset: () => number,
  ) {
    this.background = engine.writeInBackground !== undefined && engine.settle !== undefined;
  }

  /** A failure of an engine write: the store is unusable (its calls throw this). */
  get failure(): EngineError | undefined {
    return this.failed;
  }

  /**
   * After the store took a write into `pending`: past `maxBytes` waits for a background write in
   * flight and applies the durable point waiting behind it (the engine stays clean); only if that
   * is not enough, writes everything down.
   */
  taken(): void {
    const pending = this.pending;
    const max = this.options.maxBytes;
    if (pending.bytes <= max) return;
    if (this.inflight !== undefined) {
      this.settleInflight();
      const confirmed = this.confirmed;
      if (confirmed !== undefined) this.applyPoint(confirmed.end, confirmed.offset, true);
      if (pending.bytes <= max) return;
    }
    this.writeDown();
  }

  /**
   * Every pending op to the engine at once, with the marker not clean (the engine now holds writes
   * no durable commit covers).
   */
  writeDown(): void {
    const pending = this.pending;
    this.settleInflight();
    if (pending.size === 0) return;
    const end = pending.end;
    const ops = pending.take(end);
    this.applyOps(ops, encodeMarker({ offset: this.markerOffset(), clean: false }), 'pending');
    this.appliedEnd = end;
    this.forcedEnd = end;
    this.engineDirty = true;
  }

  /** The store wrote restored records with a clean marker (after `writeDown`). */
  restored(): void {
    this.engineDirty = false;
  }

  /** A commit point at changelog `offset`, covering every op taken so far (see the file's comment). */
  point(offset: number, durable: Promise<boolean> | undefined): void {
    const end = this.pending.end;
    if (durable === undefined) {
      this.applyPoint(end, offset, true);
      return;
    }
    const epoch = this.epoch;
    durable.then(
      (ok) => {
        if (!ok || epoch !== this.epoch || this.closed || this.failed !== undefined) return;
        if (!this.isDue()) {
          // a later point takes these ops too (fewer, larger engine transactions), or close does
          this.confirmed = { end, offset };
          return;
        }
        try {
          this.applyPoint(end, offset);
        } catch {
          // kept in `failure`: the next call and the next commit throw it
        }
      },
      () => {},
    );
  }

  /**
   * The ops numbered below `end` to the engine, with the clean marker `offset`: in the background
   * when the engine can (unless `sync`), after the background write in flight (the point waits in
   * `confirmed` meanwhile).
   */
  private applyPoint(end: number, offset: number, sync = false): void {
    // a later point applied them already, or some ops after this point went down early: the
    // engine holds more than this point, so it must not be marked clean at it
    if (end < this.appliedEnd || end < this.forcedEnd) return;
    const meta = encodeMarker({ offset, clean: true });
    if (this.background && !sync) {
      if (this.inflight !== undefined) {
        this.confirmed = { end, offset };
        return;
      }
      this.writeInBackground(end, meta);
      return;
    }
    this.settleInflight();
    this.applyOps(this.pending.take(end), meta, 'committed');
    this.pointApplied(end);
  }

  /** The engine holds every op numbered below `end`, with a clean marker. */
  private pointApplied(end: number): void {
    this.appliedEnd = Math.max(this.appliedEnd, end);
    this.engineDirty = false;
    this.lastApply = performance.now();
    if (this.confirmed !== undefined && this.confirmed.end <= end) this.confirmed = undefined;
  }

  /**
   * Starts the background write of the ops below `end` (they stay pending, so reads see them,
   * until it lands); one at a time.
   */
  private writeInBackground(end: number, meta: Uint8Array): void {
    const ops = this.pending.peek(end);
    let write: Promise<void>;
    try {
      write = (this.engine.writeInBackground as NonNullable<StorageEngine['writeInBackground']>).call(
        this.engine,
        ops,
        meta,
      );
    } catch (err) {
      this.failed = this.writeFailed(ops.length, 'committed', err);
      throw this.failed;
    }
    const flight: InFlight = {
      end,
      count: ops.length,
      done: write.then(
        () => this.onLanded(flight),
        (err: unknown) => {
          if (this.inflight === flight) this.backgroundFailed(flight, err);
        },
      ),
    };
    this.inflight = flight;
    if (this.confirmed !== undefined && this.confirmed.end <= end) this.confirmed = undefined;
  }

  /** The background write of `flight` landed (its promise): unless that was seen already, the next point goes. */
  private onLanded(flight: InFlight): void {
    if (this.inflight !== flight) return; // landed already (settled synchronously)
    this.landed(flight);
    // the point that waited behind it goes next, if it is due by then
    const next = this.confirmed;
    if (next !== undefined && !this.closed && this.failed === undefined && this.isDue()) {
      try {
        this.applyPoint(next.end, next.offset);
      } catch {
        // kept in `failure`: the next call and the next commit throw it
      }
    }
  }

  /** A background write is over: its ops leave the pending ones, the engine holds them. */
  private landed(flight: { end: number }): void {
    this.inflight = undefined;
    this.pending.take(flight.end);
    this.pointApplied(flight.end);
  }

  private backgroundFailed(flight: InFlight, err: unknown): void {
    if (this.inflight === flight) this.inflight = undefined;
    this.failed ??= this.writeFailed(flight.count, 'committed', err);
  }

  /** Waits (blocking) for the background write in flight, so the engine holds its ops; throws its failure. */
  private settleInflight(): void {
    const flight = this.inflight;
    if (flight === undefined) return;
    try {
      (this.engine.settle as () => void).call(this.engine);
    } catch (err) {
      this.backgroundFailed(flight, err);
      throw this.failed;
    }
    this.landed(flight);
  }

  /**
   * Resolves once no background engine write is in flight: each landed, or failed (then every
   * later call throws the failure).
   */
  async settled(): Promise<void> {
    while (this.inflight !== undefined) await this.inflight.done;
  }

  /** Whether a durable point should apply now rather than wait for a larger one. */
  private isDue(): boolean {
    // an engine left not clean by an early write-down is made clean again at once: a crash
    // meanwhile would rebuild the store
    return (
      this.engineDirty ||
      this.pending.bytes >= this.options.applyBytes ||
      performance.now() - this.lastApply >= this.options.applyMs
    );
  }

  /** `what` says which ops they are, in the failure's message: committed, or pending written down early. */
  private applyOps(
    ops: readonly WriteOp<Uint8Array, Uint8Array>[],
    meta: Uint8Array,
    what: 'committed' | 'pending',
  ) {
    try {
      this.engine.write(ops, meta);
    } catch (err) {
      this.failed = this.writeFailed(ops.length, what, err);
      throw this.failed;
    }
  }

  private writeFailed(count: number, what: 'committed' | 'pending', cause: unknown): EngineError {
    return new EngineError(
      `store "${this.name}": writing ${count} ${what} ops to its engine failed; the store is unusable, restart the job (it restores from the changelog)`,
      { cause },
    );
  }

  /** Forgets every pending op and point (the store is being wiped), and a failure. */
  clear(): void {
    if (this.inflight !== undefined) {
      this.inflight = undefined;
      try {
        this.engine.settle?.();
      } catch {
        // wiped anyway
      }
    }
    this.pending.clear();
    this.confirmed = undefined;
    this.epoch++;
    this.appliedEnd = this.forcedEnd = this.pending.end;
    this.engineDirty = false;
    this.failed = undefined;
  }

  /**
   * The store closes: a background write in flight lands first (a failure is kept), then a durable
   * point that waited for a larger one lands now (always safe: a checkpoint covers it); ops no
   * durable point covers are dropped, never in the engine.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    const confirmed = this.confirmed;
    if (confirmed !== undefined && this.failed === undefined) {
      try {
        this.applyPoint(confirmed.end, confirmed.offset, true);
      } catch {
        // kept in `failure`; the engine stays at its last point, which a restart replays from
      }
    }
    this.epoch++;
    this.pending.clear();
  }
}
