// The memory engine with snapshot files: the conformance suite as a persistent engine, then what a
// snapshot holds, how a damaged one is refused, and how a wipe and a running snapshot interact.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  SNAPSHOT_FILE,
  SnapshottedMemoryEngine,
} from '../../../src/store/engines/snapshotted-memory-engine.js';
import type { EngineCursor } from '../../../src/store/types.js';
import { tempDir } from '../../helpers/tmp.js';
import { engineSuite } from '../engine-suite.js';

engineSuite({
  name: 'memory with snapshot files',
  open: (dir) => SnapshottedMemoryEngine.open({ dir, name: 'test', intervalMs: 0 }),
  supports: { persistent: true, emptyKey: true },
});

const key = (i: number): Buffer => Buffer.from(`k${String(i).padStart(6, '0')}`);
const val = (i: number): Buffer => Buffer.from(`value-${i}`);

function entries(cursor: EngineCursor): [string, string][] {
  const out: [string, string][] = [];
  for (let e = cursor.next(); e !== undefined; e = cursor.next()) {
    out.push([Buffer.from(e.key).toString(), Buffer.from(e.value).toString()]);
  }
  cursor.close();
  return out;
}

/** An engine with `n` keys and meta "m<n>", snapshotted at a commit point; the caller closes it. */
async function snapshotted(dir: string, n: number): Promise<SnapshottedMemoryEngine> {
  const engine = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 0 });
  const ops = [];
  for (let i = 0; i < n; i++) ops.push({ key: key(i), value: val(i) });
  engine.write(ops, Buffer.from(`m${n}`));
  await engine.snapshotNow();
  return engine;
}

describe('memory engine snapshot files', () => {
  it('a snapshot taken at a commit point is what a new engine on the directory opens with', async (t) => {
    const dir = tempDir(t);
    const first = await snapshotted(dir, 5000);
    first.write([{ key: key(1), value: Buffer.from('after') }], Buffer.from('later'));
    // a second engine on the same directory, as after a crash: it sees the snapshot, not the write after it
    const second = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 0 });
    t.after(() => second.close());
    assert.equal(second.opened.loaded, true);
    assert.equal(second.inner.size, 5000);
    assert.equal(Buffer.from(second.readMeta() as Uint8Array).toString(), 'm5000');
    assert.equal(Buffer.from(second.get(key(1)) as Uint8Array).toString(), 'value-1');
    const all = entries(second.range(undefined, undefined));
    assert.equal(all.length, 5000);
    assert.deepEqual(all[4999], [key(4999).toString(), 'value-4999']);
    assert.deepEqual(
      entries(second.range(key(10), key(13))).map(([k]) => k),
      [10, 11, 12].map((i) => key(i).toString()),
    );
    await first.inner.close();
  });

  it('a load sizes the index for the records the file holds, not for the worst case of a block', async (t) => {
    const dir = tempDir(t);
    const first = await snapshotted(dir, 200_000);
    const written = first.inner.memoryStats().indexBytes;
    await first.inner.close();
    const second = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 0 });
    t.after(() => second.close());
    assert.equal(second.inner.size, 200_000);
    const loaded = second.inner.memoryStats().indexBytes;
    assert.ok(
      loaded <= written * 1.2,
      `index after the load ${loaded} B, the engine that wrote it ${written} B`,
    );
    assert.equal(Buffer.from(second.get(key(123_456)) as Uint8Array).toString(), 'value-123456');
  });

  it('writes made while a snapshot is being written stay out of it', async (t) => {
    const dir = tempDir(t);
    const engine = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 0 });
    const ops = [];
    for (let i = 0; i < 200_000; i++) ops.push({ key: key(i), value: val(i) });
    engine.write(ops, Buffer.from('at-commit'));
    const writing = engine.snapshotNow();
    // the snapshot runs in slices: these land between them
    for (let i = 0; i < 1000; i++)
      engine.write([
        { key: key(i), value: null },
        { key: key(1_000_000 + i), value: val(i) },
      ]);
    engine.write([], Buffer.from('after-commit'));
    const stats = await writing;
    assert.ok(stats !== undefined && stats.records === 200_000);
    const again = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 0 });
    t.after(() => again.close());
    assert.equal(again.inner.size, 200_000);
    assert.equal(Buffer.from(again.readMeta() as Uint8Array).toString(), 'at-commit');
    assert.equal(again.get(key(1_000_000)), undefined);
    assert.equal(Buffer.from(again.get(key(0)) as Uint8Array).toString(), 'value-0');
    await engine.inner.close();
  });

  for (const [damage, how] of [
    [
      'a flipped byte in the records',
      (file: string) => {
        const data = readFileSync(file);
        data[Math.floor(data.length / 2)] ^= 0x40;
        writeFileSync(file, data);
      },
    ],
    [
      'a flipped byte in the metadata',
      (file: string) => {
        const data = readFileSync(file);
        data[33] ^= 0x01;
        writeFileSync(file, data);
      },
    ],
    ['a truncated file', (file: string) => truncateSync(file, statSync(file).size - 100)],
    ['an empty file', (file: string) => truncateSync(file, 0)],
  ] as const) {
    it(`${damage} is detected: the engine opens empty, without metadata, and sets the file aside`, async (t) => {
      const dir = tempDir(t);
      const first = await snapshotted(dir, 3000);
      await first.inner.close();
      const file = join(dir, SNAPSHOT_FILE);
      how(file);
      const engine = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 0 });
      t.after(() => engine.close());
      assert.equal(engine.opened.loaded, false);
      assert.match((engine.opened as { rejected?: string }).rejected ?? '', /unusable/);
      assert.equal(engine.inner.size, 0);
      assert.equal(engine.readMeta(), undefined, 'no marker: the store is rebuilt from its changelog');
      assert.equal(existsSync(file), false);
      assert.equal(existsSync(`${file}.corrupt`), true);
    });
  }

  it('clear removes the file, and a snapshot running during the clear never lands', async (t) => {
    const dir = tempDir(t);
    const engine = await snapshotted(dir, 100);
    const ops = [];
    for (let i = 0; i < 100_000; i++) ops.push({ key: key(i), value: val(i) });
    engine.write(ops, Buffer.from('big'));
    const writing = engine.snapshotNow();
    engine.clear();
    await writing;
    assert.equal(existsSync(join(dir, SNAPSHOT_FILE)), false);
    await engine.inner.close();
    const again = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 0 });
    t.after(() => again.close());
    assert.equal(again.inner.size, 0);
    assert.equal(again.readMeta(), undefined);
  });

  it('commit points start a snapshot at most every intervalMs, and only after a change', async (t) => {
    const dir = tempDir(t);
    const engine = SnapshottedMemoryEngine.open({ dir, name: 't', intervalMs: 60_000 });
    t.after(() => engine.close());
    engine.commitPoint();
    assert.equal(existsSync(join(dir, SNAPSHOT_FILE)), false, 'nothing changed: no snapshot');
    engine.write([{ key: key(1), value: val(1) }], Buffer.from('m1'));
    engine.commitPoint();
    await engine.snapshotNow(); // waits for the one commitPoint started, then writes another
    const first = statSync(join(dir, SNAPSHOT_FILE)).mtimeMs;
    assert.ok(engine.lastSnapshot !== undefined);
    engine.write([{ key: key(2), value: val(2) }], Buffer.from('m2'));
    engine.commitPoint(); // within the interval: no snapshot
    const again = SnapshottedMemoryEngine.open({ dir, name: 't2', intervalMs: 0 });
    assert.equal(again.inner.size, 1);
    await again.inner.close();
    assert.equal(statSync(join(dir, SNAPSHOT_FILE)).mtimeMs, first);
  });

  it('a snapshot taken at a commit point lands only once its commit is durable, never after a failed one', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, SNAPSHOT_FILE);
    const engine = await snapshotted(dir, 10); // published, meta "m10"
    const reopened = (): { size: number; meta: string } => {
      const e = SnapshottedMemoryEngine.open({ dir, name: 'peek', intervalMs: 0 });
      const out = { size: e.inner.size, meta: Buffer.from(e.readMeta() as Uint8Array).toString() };
      void e.inner.close();
      return out;
    };
    // a commit point whose commit is still going (an exactly-once transaction not committed yet)
    const ops = [];
    for (let i = 0; i < 20; i++) ops.push({ key: key(i), value: val(i) });
    engine.write(ops, Buffer.from('m20'));
    let commit: (durable: boolean) => void = () => {};
    engine.commitPoint(
      new Promise<boolean>((resolve) => {
        commit = resolve;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50)); // the file is written meanwhile
    assert.deepEqual(reopened(), { size: 10, meta: 'm10' }, 'not published before the commit is durable');
    commit(true);
    await engine.snapshotNow(); // waits for the running one (then writes the same state again)
    assert.deepEqual(reopened(), { size: 20, meta: 'm20' });
    // a commit point whose commit then fails: neither its snapshot nor one at close lands
    engine.write([{ key: key(99), value: val(99) }], Buffer.from('m21'));
    engine.commitPoint(Promise.resolve(false));
    await engine.close();
    assert.deepEqual(reopened(), { size: 20, meta: 'm20' }, 'the last durable snapshot stays');
    assert.equal(existsSync(`${file}.tmp`), false, 'the unpublished file is removed');
  });
});
