// Deferred engine writes (EngineStore over lmdb, as a changelogged store builds it): the engine holds
// a write only once a commit point that covers it is durable, reads see pending writes meanwhile, a
// failed commit leaves the engine at the last durable point, an ordered read writes everything down
// (not clean), and small durable points wait for a larger one.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { decodeMarker } from '../../src/store/changelog-marker.js';
import { EngineStore } from '../../src/store/engine-store.js';
import { LmdbEngine } from '../../src/store/engines/lmdb-engine.js';
import { MemoryChangelogSink, openStore, serdes } from '../../src/store/index.js';
import type { StorageEngine } from '../../src/store/types.js';
import { isEddyError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';

const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | undefined): string | undefined =>
  v === undefined ? undefined : Buffer.from(v).toString();

function open(dir: string, apply = { applyBytes: 0, applyMs: 0 }): EngineStore {
  return new EngineStore(LmdbEngine.open({ dir, name: 't' }), {
    name: 't',
    trackChangelog: true,
    deferWrites: { maxBytes: 1 << 20, ...apply },
  });
}

const inEngine = (s: EngineStore, key: string) => str(s.engine.get(b(key)));
const engineMarker = (s: EngineStore) => decodeMarker(s.engine.readMeta());

function deferred(): { durable: Promise<boolean>; settle: (ok: boolean) => void } {
  let settle: (ok: boolean) => void = () => {};
  const durable = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  return { durable, settle };
}

/** The handlers of settled commits run, and the background writes they started land. */
const tick = async (s: EngineStore) => {
  await new Promise((resolve) => setImmediate(resolve));
  await s.settled();
};

describe('deferred engine writes (lmdb with a changelog)', () => {
  it('a write reaches the engine once its commit point is durable, with the clean marker; reads see it before', async (t) => {
    const s = open(tempDir(t));
    t.after(() => s.close());
    s.put(b('a'), b('1'));
    assert.equal(str(s.get(b('a'))), '1', 'a pending write is read back');
    assert.equal(s.has(b('a')), true);
    assert.equal(inEngine(s, 'a'), undefined);
    const c = deferred();
    s.markClean(0, c.durable);
    assert.deepEqual(s.changelogMarker(), { offset: 0, clean: true });
    s.put(b('b'), b('2')); // after the point: stays pending when the point applies
    assert.equal(inEngine(s, 'a'), undefined, 'not in the engine before the commit is durable');
    c.settle(true);
    await tick(s);
    assert.equal(inEngine(s, 'a'), '1');
    assert.equal(inEngine(s, 'b'), undefined);
    assert.deepEqual(engineMarker(s), { offset: 0, clean: true });
    s.delete(b('a'));
    assert.equal(s.get(b('a')), undefined, 'a pending delete hides the engine value');
    assert.equal(s.has(b('a')), false);
    assert.equal(inEngine(s, 'a'), '1');
  });

  it('a commit that failed leaves the engine at the last durable point', async (t) => {
    const dir = tempDir(t);
    const s = open(dir);
    s.put(b('a'), b('1'));
    s.markClean(0, Promise.resolve(true));
    await tick(s);
    s.put(b('b'), b('2'));
    s.markClean(1, Promise.resolve(false));
    await tick(s);
    assert.equal(inEngine(s, 'b'), undefined);
    await s.close(); // as after a failure: what is pending never lands
    const again = open(dir);
    t.after(() => again.close());
    assert.deepEqual(again.changelogMarker(), { offset: 0, clean: true });
    assert.equal(str(again.get(b('a'))), '1');
    assert.equal(again.get(b('b')), undefined);
  });

  it('an ordered read writes the pending ops down, not clean; a point overtaken that way is not marked clean', async (t) => {
    const s = open(tempDir(t));
    t.after(() => s.close());
    s.put(b('a'), b('1'));
    const c = deferred();
    s.markClean(0, c.durable);
    s.put(b('b'), b('2'));
    const it = s.range(b('a'), b('z'));
    assert.deepEqual(
      [...it].map((e) => str(e.key)),
      ['a', 'b'],
    );
    assert.equal(inEngine(s, 'b'), '2');
    assert.equal(engineMarker(s)?.clean, false);
    c.settle(true);
    await tick(s);
    assert.equal(engineMarker(s)?.clean, false, 'the engine holds b, past the point');
    s.markClean(1); // a point after everything written down: clean again
    assert.deepEqual(engineMarker(s), { offset: 1, clean: true });
  });

  it('after an ordered read wrote everything down, the next durable point past it applies at once', async (t) => {
    const s = open(tempDir(t), { applyBytes: 1 << 20, applyMs: 60_000 });
    t.after(() => s.close());
    s.put(b('a'), b('1'));
    s.markClean(0, Promise.resolve(true));
    await tick(s);
    assert.equal(inEngine(s, 'a'), undefined, 'a small point waits');
    s.put(b('b'), b('2'));
    s.range(b('a'), b('z')).close();
    assert.equal(engineMarker(s)?.clean, false);
    s.put(b('c'), b('3'));
    s.markClean(2, Promise.resolve(true));
    await tick(s);
    assert.equal(inEngine(s, 'c'), '3', 'applied though little is pending');
    assert.deepEqual(engineMarker(s), { offset: 2, clean: true });
    s.put(b('d'), b('4'));
    s.markClean(3, Promise.resolve(true));
    await tick(s);
    assert.equal(inEngine(s, 'd'), undefined, 'clean again: small points wait again');
  });

  it('a durable point with little pending waits, and a later one takes its ops too', async (t) => {
    const s = open(tempDir(t), { applyBytes: 1000, applyMs: 60_000 });
    t.after(() => s.close());
    s.put(b('a'), b('1'));
    s.markClean(0, Promise.resolve(true));
    await tick(s);
    assert.equal(inEngine(s, 'a'), undefined, 'under applyBytes: not applied');
    s.put(b('big'), Buffer.alloc(2000));
    s.markClean(1, Promise.resolve(true));
    await tick(s);
    assert.equal(inEngine(s, 'a'), '1');
    assert.equal(inEngine(s, 'big')?.length, 2000);
    assert.deepEqual(engineMarker(s), { offset: 1, clean: true });
  });

  it('close applies a durable point that waited for a larger one, and only that', async (t) => {
    const dir = tempDir(t);
    const s = open(dir, { applyBytes: 1 << 20, applyMs: 60_000 });
    s.put(b('a'), b('1'));
    s.markClean(0, Promise.resolve(true));
    await tick(s);
    s.put(b('b'), b('2'));
    s.markClean(1, Promise.resolve(false)); // a commit that failed
    await tick(s);
    assert.equal(inEngine(s, 'a'), undefined);
    await s.close();
    const again = open(dir);
    t.after(() => again.close());
    assert.deepEqual(again.changelogMarker(), { offset: 0, clean: true });
    assert.equal(str(again.get(b('a'))), '1');
    assert.equal(again.get(b('b')), undefined);
  });

  it('a store closed after its commit holds everything; a key lmdb refuses is refused when written (no cache)', async (t) => {
    const dir = tempDir(t);
    const sink = new MemoryChangelogSink();
    const options = {
      dir,
      engine: 'lmdb' as const,
      key: serdes.string,
      value: serdes.string,
      changelog: sink,
      cacheSize: 0,
    };
    const store = await openStore(options);
    store.put('a', '1');
    assert.throws(
      () => store.put('', 'x'),
      (err) => isEddyError(err, 'EDDY_INVALID_KEY'),
    );
    await store.close();
    assert.equal(sink.records.length, 1, 'the refused key never reached the changelog');
    const again = await openStore(options);
    t.after(() => again.close());
    assert.equal(again.get('a'), '1');
    assert.deepEqual(again.changelogPosition(), { offset: 0, clean: true });
  });

  it('a write after a clean point is committed even when the changelog offset did not move (a fresh changelog)', async (t) => {
    const dir = tempDir(t);
    const options = (changelog: MemoryChangelogSink) => ({
      dir,
      engine: 'lmdb' as const,
      key: serdes.string,
      value: serdes.string,
      changelog,
      cacheSize: 0,
    });
    const first = await openStore(options(new MemoryChangelogSink()));
    first.put('a', '1');
    await first.close(); // clean at changelog offset 0
    // a changelog whose offsets start again (a test's fresh sink): its first record is offset 0 too
    const second = await openStore(options(new MemoryChangelogSink()));
    second.put('b', '2');
    await second.close();
    const third = await openStore(options(new MemoryChangelogSink()));
    t.after(() => third.close());
    assert.equal(third.get('a'), '1');
    assert.equal(third.get('b'), '2', 'the write was not dropped at close');
  });
});

/**
 * An lmdb engine whose background writes land (resolve) only when the test says so: the write runs
 * on the writer thread at once, but the store learns it landed only at `release()` (or when it
 * settles synchronously), so the window where a write is in flight is the test's to hold open.
 * `fail` makes every background write fail instead.
 */
function gatedEngine(dir: string, fail = false) {
  const inner = LmdbEngine.open({ dir, name: 't' });
  let open: () => void = () => {};
  let gate = Promise.resolve();
  const engine: StorageEngine = {
    kind: inner.kind,
    supports: inner.supports,
    get: (key) => inner.get(key),
    write: (ops, meta) => inner.write(ops, meta),
    writeSpans: (batches, meta) => inner.writeSpans(batches, meta),
    range: (from, to) => inner.range(from, to),
    snapshot: (from, to) => inner.snapshot(from, to),
    readMeta: () => inner.readMeta(),
    clear: () => inner.clear(),
    flush: () => inner.flush(),
    checkKey: (key) => inner.checkKey(key),
    close: () => inner.close(),
    writeInBackground(ops, meta) {
      if (fail) return Promise.reject(new Error('the disk is on fire'));
      const written = inner.writeInBackground(ops, meta);
      return gate.then(() => written);
    },
    settle: () => {
      if (fail) throw new Error('the disk is on fire');
      inner.settle();
    },
  };
  const hold = () => {
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
  };
  return { engine, inner, hold, release: () => open() };
}

/** A store over `gated`, closed after the test (the gate opened first, so a failed test never hangs). */
function openGated(t: TestContext, gated: ReturnType<typeof gatedEngine>, maxBytes = 1 << 20): EngineStore {
  const s = new EngineStore(gated.engine, {
    name: 't',
    trackChangelog: true,
    deferWrites: { maxBytes, applyBytes: 0, applyMs: 0 },
  });
  t.after(() => {
    gated.release();
    return s.close();
  });
  return s;
}

const immediate = () => new Promise((resolve) => setImmediate(resolve));

/**
 * `a` = `first` at durable point 0, whose background write then starts (and, gated, stays in
 * flight), then `b` = `second` at durable point 1, which comes while it is in flight.
 */
async function twoPoints(s: EngineStore, first: Buffer, second: Buffer): Promise<void> {
  s.put(b('a'), first);
  s.markClean(0, Promise.resolve(true));
  await immediate();
  s.put(b('b'), second);
  s.markClean(1, Promise.resolve(true));
  await immediate();
}

describe('deferred engine writes in the background (lmdb writer thread)', () => {
  it('ops being written in the background are read from memory; an ordered read waits for the write and stays clean', async (t) => {
    const dir = tempDir(t);
    const gated = gatedEngine(dir);
    const s = openGated(t, gated);
    gated.hold();
    s.put(b('a'), b('1'));
    s.put(b('b'), b('2'));
    s.markClean(0, Promise.resolve(true));
    await immediate(); // the durable point's apply is now in flight, and stays so
    assert.equal(str(s.get(b('a'))), '1');
    assert.equal(s.has(b('b')), true);
    s.delete(b('a'));
    assert.equal(s.get(b('a')), undefined, 'a later delete wins over the op in flight');
    const keys = [...s.range(b('a'), b('z'))].map((e) => str(e.key));
    assert.deepEqual(keys, ['b']);
    assert.equal(inEngine(s, 'a'), undefined, 'the delete went down with the ordered read');
    assert.deepEqual(engineMarker(s), { offset: 0, clean: false }, 'the delete is past the point');
    gated.release();
    await s.settled();
    assert.equal(str(s.get(b('b'))), '2');
  });

  it('a durable point that comes while a write is in flight goes once it lands', async (t) => {
    const dir = tempDir(t);
    const gated = gatedEngine(dir);
    const s = openGated(t, gated);
    gated.hold();
    await twoPoints(s, b('1'), b('2'));
    gated.inner.settle();
    assert.equal(inEngine(s, 'a'), '1');
    assert.equal(inEngine(s, 'b'), undefined, 'one write at a time: the second point waits');
    gated.release();
    await s.settled();
    assert.equal(inEngine(s, 'b'), '2');
    assert.deepEqual(engineMarker(s), { offset: 1, clean: true });
  });

  it('past maxBytes with a write in flight, the store waits for it and applies the waiting point, clean', async (t) => {
    const dir = tempDir(t);
    const gated = gatedEngine(dir);
    const s = openGated(t, gated, 1 << 20);
    gated.hold();
    await twoPoints(s, Buffer.alloc(600_000, 1), Buffer.alloc(300_000, 2));
    assert.equal(inEngine(s, 'b'), undefined);
    s.put(b('c'), Buffer.alloc(200_000, 3)); // 1.1 MB pending: over maxBytes
    assert.equal(inEngine(s, 'b')?.length, 300_000, 'the waiting point applied at once');
    assert.equal(inEngine(s, 'c'), undefined, 'what no durable point covers stays pending');
    assert.deepEqual(engineMarker(s), { offset: 1, clean: true });
    gated.release();
  });

  it('close waits for the write in flight; a reopen holds it, clean', async (t) => {
    const dir = tempDir(t);
    const gated = gatedEngine(dir);
    const s = openGated(t, gated);
    gated.hold();
    s.put(b('a'), b('1'));
    s.markClean(0, Promise.resolve(true));
    await immediate();
    const closing = s.close();
    gated.release();
    await closing;
    const again = open(dir);
    t.after(() => again.close());
    assert.equal(str(again.get(b('a'))), '1');
    assert.deepEqual(again.changelogMarker(), { offset: 0, clean: true });
  });

  it('a background write that fails makes every later call throw EDDY_ENGINE, naming the committed ops', async (t) => {
    const dir = tempDir(t);
    const s = openGated(t, gatedEngine(dir, true));
    s.put(b('a'), b('1'));
    s.put(b('b'), b('2'));
    s.markClean(0, Promise.resolve(true));
    await s.settled();
    await immediate();
    await immediate();
    assert.throws(
      () => s.get(b('a')),
      (err) => isEddyError(err, 'EDDY_ENGINE') && /writing 2 committed ops/.test((err as Error).message),
    );
    assert.throws(
      () => s.markClean(1, Promise.resolve(true)),
      (err) => isEddyError(err, 'EDDY_ENGINE'),
    );
  });
});
