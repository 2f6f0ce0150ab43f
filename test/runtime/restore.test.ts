// Restore of a memory-engine store from its snapshot file and its changelog: the snapshot's marker
// fits the "current / behind / not clean" decision, so a restart replays only the changelog's tail,
// and a damaged snapshot is rebuilt from the whole changelog.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { Log } from '../../src/log/types.js';
import { LogChangelogSink } from '../../src/runtime/log-changelog-sink.js';
import { restoreStore } from '../../src/runtime/restore.js';
import { SNAPSHOT_FILE } from '../../src/store/engines/snapshotted-memory-engine.js';
import { openStore, type Store } from '../../src/store/open-store.js';
import { serdes } from '../../src/store/serdes.js';
import { tempDir } from '../helpers/tmp.js';

const TOPIC = 'counts-changelog';

async function open(
  log: Log,
  dir: string,
): Promise<{ store: Store<string, number>; sink: LogChangelogSink }> {
  const sink = new LogChangelogSink(log, TOPIC, 0, await log.endOffset(TOPIC, 0));
  const store = await openStore({
    name: 'counts/0',
    dir,
    engine: 'memory',
    key: serdes.string,
    value: serdes.json<number>(),
    changelog: sink,
    snapshotMs: 0,
  });
  return { store, sink };
}

/** An embedded log with the changelog topic (closed after the test), and a store directory. */
async function changelogAndDir(t: { after(fn: () => unknown): void }): Promise<{ log: Log; dir: string }> {
  const root = tempDir(t);
  const log = await openEmbeddedLog({ dir: join(root, 'log'), fsync: 'os' });
  t.after(() => log.close());
  await log.createTopic(TOPIC, { partitions: 1 });
  return { log, dir: join(root, 'store') };
}

/** Writes `n` keys (values `round`) and commits. */
async function writeRound(store: Store<string, number>, n: number, round: number): Promise<void> {
  for (let i = 0; i < n; i++) store.put(`k${i}`, round);
  await store.commit();
}

async function snapshotWritten(store: Store<string, number>): Promise<void> {
  // the commit point started a snapshot in the background; closing the engine waits for it
  const engine = (
    store as unknown as { stack: { engineStore: { engine: { snapshotNow(): Promise<unknown> } } } }
  ).stack.engineStore.engine;
  await engine.snapshotNow();
}

describe('restore of a memory store with snapshot files', () => {
  it('after a crash, the snapshot is loaded and only the changelog after it is replayed', async (t) => {
    const { log, dir } = await changelogAndDir(t);
    const first = await open(log, dir);
    await writeRound(first.store, 2000, 1); // changelog offsets 0..1999
    await snapshotWritten(first.store); // the snapshot holds the state at offset 1999
    const before = first.store.changelogPosition();
    assert.deepEqual(before, { offset: 1999, clean: true });
    for (let i = 0; i < 500; i++) first.store.put(`k${i}`, 2); // offsets 2000..2499
    await first.sink.flush();
    // crash: the first store is never closed (no last snapshot); a new one opens the directory
    const second = await open(log, dir);
    t.after(() => second.store.close());
    assert.deepEqual(second.store.changelogPosition(), { offset: 1999, clean: true });
    const result = await restoreStore(second.store, 'counts', log, TOPIC, 0, () => {});
    assert.equal(result.mode, 'replayed');
    assert.equal(result.restored, 500, 'only the tail after the snapshot is read');
    assert.equal(second.store.get('k0'), 2);
    assert.equal(second.store.get('k499'), 2);
    assert.equal(second.store.get('k500'), 1);
    assert.equal(second.store.get('k1999'), 1);
    assert.deepEqual(second.store.changelogPosition(), { offset: 2499, clean: true });
  });

  it('a clean close writes a last snapshot: the reopened store is current, nothing is read', async (t) => {
    const { log, dir } = await changelogAndDir(t);
    const first = await open(log, dir);
    await writeRound(first.store, 1000, 1);
    await writeRound(first.store, 300, 2);
    await first.store.close();
    const second = await open(log, dir);
    t.after(() => second.store.close());
    const result = await restoreStore(second.store, 'counts', log, TOPIC, 0, () => {});
    assert.equal(result.mode, 'reused');
    assert.equal(result.restored, 0);
    assert.equal(second.store.get('k299'), 2);
    assert.equal(second.store.get('k999'), 1);
  });

  it('a damaged snapshot is ignored: the store is rebuilt from the whole changelog', async (t) => {
    const { log, dir } = await changelogAndDir(t);
    const first = await open(log, dir);
    await writeRound(first.store, 1000, 1);
    await first.store.close();
    const file = join(dir, SNAPSHOT_FILE);
    const data = readFileSync(file);
    data[data.length - 200] ^= 0xff;
    writeFileSync(file, data);
    const second = await open(log, dir);
    t.after(() => second.store.close());
    assert.equal(second.store.changelogPosition(), undefined);
    const result = await restoreStore(second.store, 'counts', log, TOPIC, 0, () => {});
    assert.equal(result.mode, 'rebuilt');
    assert.equal(result.restored, 1000);
    assert.equal(second.store.get('k999'), 1);
  });
});

describe('restore of an exactly-once store whose marker names an aborted record', () => {
  /**
   * A store "clean at 1999" (its snapshot), then another owner's 500 records (2000..2499); `hide`
   * makes the record at 1999 invisible, as Kafka shows an aborted transaction's records to a
   * read_committed reader: not at all (the store committed its marker inside a transaction that
   * never committed).
   */
  async function restoreWith(t: { after(fn: () => unknown): void }, hide: boolean, mustBeCommitted: boolean) {
    const { log, dir } = await changelogAndDir(t);
    const first = await open(log, dir);
    await writeRound(first.store, 2000, 1);
    await snapshotWritten(first.store);
    const more = [];
    for (let i = 0; i < 500; i++) more.push({ key: Buffer.from(`k${i}`), value: Buffer.from('7') });
    await log.append(TOPIC, 0, more);
    const view: Log = !hide
      ? log
      : Object.create(log, {
          read: {
            value: async (topic: string, p: number, offset: number, options?: { maxRecords?: number }) =>
              (await log.read(topic, p, offset, options)).filter((r) => r.offset !== 1999),
          },
        });
    const again = await open(log, dir);
    t.after(() => again.store.close());
    assert.deepEqual(again.store.changelogPosition(), { offset: 1999, clean: true });
    const result = await restoreStore(again.store, 'counts', view, TOPIC, 0, () => {}, {
      upTo: 2499,
      markerMustBeCommitted: mustBeCommitted,
    });
    return { mode: result.mode, store: again.store };
  }

  it('rebuilds instead of replaying the tail on top of the aborted writes', async (t) => {
    const { mode, store } = await restoreWith(t, true, true);
    assert.equal(mode, 'rebuilt');
    assert.equal(store.get('k0'), 7, 'what the changelog shows');
    assert.equal(store.get('k1999'), undefined, 'the aborted record is not in the state');
  });

  it("replays the tail when the marker's record is there, and without the check", async (t) => {
    assert.equal((await restoreWith(t, false, true)).mode, 'replayed');
    assert.equal((await restoreWith(t, true, false)).mode, 'replayed');
  });
});
