// Deferred engine writes (EngineStore, on lmdb with a changelog): the engine holds a write only once
// a commit that covers it is durable, reads see pending writes meanwhile, a failed commit leaves
// the engine at the last durable point, and an ordered read writes everything down (not clean).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMarker, type EngineStore } from '../../src/store/engine-store.js';
import { MemoryChangelogSink, openStore, serdes } from '../../src/store/index.js';
import type { Store } from '../../src/store/open-store.js';
import { isEddyError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/tmp.js';

type Opened = { store: Store<string, string>; sink: MemoryChangelogSink; engineStore: EngineStore };

async function open(dir: string): Promise<Opened> {
  const sink = new MemoryChangelogSink();
  const store = (await openStore({
    dir,
    engine: 'lmdb',
    key: serdes.string,
    value: serdes.string,
    cacheSize: 0,
    changelog: sink,
  })) as Store<string, string>;
  const engineStore = (store as unknown as { stack: { engineStore: EngineStore } }).stack.engineStore;
  return { store, sink, engineStore };
}

/** What the engine itself holds for `key` (below the pending writes). */
function inEngine(o: Opened, key: string): string | undefined {
  const v = o.engineStore.engine.get(Buffer.from(key));
  return v === undefined ? undefined : Buffer.from(v).toString();
}

const engineMarker = (o: Opened) => decodeMarker(o.engineStore.engine.readMeta());

function deferred(): { durable: Promise<boolean>; settle: (ok: boolean) => void } {
  let settle: (ok: boolean) => void = () => {};
  const durable = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  return { durable, settle };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('deferred engine writes (lmdb with a changelog)', () => {
  it('a write reaches the engine once its commit is durable, with the clean marker; reads see it before', async (t) => {
    const o = await open(tempDir(t));
    t.after(() => o.store.close());
    o.store.put('a', '1');
    assert.equal(o.store.get('a'), '1', 'a pending write is read back');
    assert.equal(inEngine(o, 'a'), undefined, 'not in the engine before any commit');
    const c = deferred();
    assert.equal(await o.store.commit({ durable: c.durable }), 0);
    assert.equal(inEngine(o, 'a'), undefined, 'not in the engine before the commit is durable');
    assert.deepEqual(o.store.changelogPosition(), { offset: 0, clean: true });
    o.store.put('b', '2'); // after the commit point: stays pending when the point applies
    c.settle(true);
    await tick();
    assert.equal(inEngine(o, 'a'), '1');
    assert.equal(inEngine(o, 'b'), undefined);
    assert.deepEqual(engineMarker(o), { offset: 0, clean: true });
    o.store.delete('a');
    assert.equal(o.store.get('a'), undefined, 'a pending delete hides the engine value');
    assert.equal(inEngine(o, 'a'), '1');
  });

  it('a commit that failed leaves the engine at the last durable point', async (t) => {
    const dir = tempDir(t);
    const o = await open(dir);
    o.store.put('a', '1');
    await o.store.commit({ durable: Promise.resolve(true) });
    await tick();
    o.store.put('b', '2');
    await o.store.commit({ durable: Promise.resolve(false) });
    await tick();
    assert.equal(inEngine(o, 'b'), undefined);
    assert.deepEqual(engineMarker(o), { offset: 0, clean: true });
    // closed as after a failure (the layers, without the store's commit): nothing pending lands
    await (o.store as unknown as { stack: { top: { close(): Promise<void> } } }).stack.top.close();
    const again = await open(dir);
    t.after(() => again.store.close());
    assert.deepEqual(again.store.changelogPosition(), { offset: 0, clean: true });
    assert.equal(again.store.get('a'), '1');
    assert.equal(again.store.get('b'), undefined);
  });

  it('an ordered read writes the pending ops down, not clean; a point overtaken that way is not marked clean', async (t) => {
    const o = await open(tempDir(t));
    t.after(() => o.store.close());
    o.store.put('a', '1');
    const c = deferred();
    await o.store.commit({ durable: c.durable });
    o.store.put('b', '2');
    assert.deepEqual(
      [...o.store.range('a', 'z')].map((e) => e.key),
      ['a', 'b'],
    );
    assert.equal(inEngine(o, 'b'), '2');
    assert.equal(engineMarker(o)?.clean, false);
    c.settle(true);
    await tick();
    assert.equal(engineMarker(o)?.clean, false, 'the engine holds b, past the point');
    await o.store.commit(); // a point after everything written down: clean again
    assert.deepEqual(engineMarker(o), { offset: 1, clean: true });
  });

  it('a key the engine refuses is refused when written, and never reaches the changelog', async (t) => {
    const o = await open(tempDir(t));
    t.after(() => o.store.close());
    assert.throws(
      () => o.store.put('', 'x'),
      (err) => isEddyError(err, 'EDDY_INVALID_KEY'),
    );
    assert.equal(o.sink.records.length, 0);
  });
});
