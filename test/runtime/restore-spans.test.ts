// Restore through `Log.readSpans` (records as byte spans, no object per record) gives the store the
// same state, counts and marker as restore through `Log.read`, with the checkpoint bound cutting a
// read short and keyless records skipped.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { Log, ReadOptions, RecordSpans } from '../../src/log/types.js';
import { type RestorableStore, restoreStore } from '../../src/runtime/restore.js';
import { openStore, type Store } from '../../src/store/open-store.js';
import { serdes } from '../../src/store/serdes.js';
import { tempDir } from '../helpers/tmp.js';

const TOPIC = 'spans-changelog';

/** `log` with a `readSpans` made from its `read` (records packed into 2 blocks per read). */
function withSpans(log: Log): Log & { spanReads: number } {
  const wrapped = Object.create(log) as Log & { spanReads: number };
  wrapped.spanReads = 0;
  wrapped.readSpans = async (topic: string, partition: number, offset: number, options?: ReadOptions) => {
    wrapped.spanReads++;
    const records = await log.read(topic, partition, offset, options);
    const half = Math.ceil(records.length / 2);
    return [records.slice(0, half), records.slice(half)]
      .filter((part) => part.length > 0)
      .map((part): RecordSpans => {
        const n = part.length;
        const block = {
          count: n,
          offsets: new Float64Array(n),
          keyStart: new Int32Array(n),
          keyLength: new Int32Array(n),
          valueStart: new Int32Array(n),
          valueLength: new Int32Array(n),
        };
        const chunks: Buffer[] = [];
        let pos = 0;
        part.forEach((r, i) => {
          block.offsets[i] = r.offset;
          block.keyStart[i] = pos;
          block.keyLength[i] = r.key === null ? -1 : r.key.length;
          if (r.key !== null) chunks.push(r.key);
          pos += r.key?.length ?? 0;
          block.valueStart[i] = pos;
          block.valueLength[i] = r.value === null ? -1 : r.value.length;
          if (r.value !== null) chunks.push(r.value);
          pos += r.value?.length ?? 0;
        });
        return { ...block, buf: Buffer.concat(chunks) };
      });
  };
  return wrapped;
}

async function contents(store: Store<string, string>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  using it = store.all();
  for (const { key, value } of it) out.push([key, value]);
  return out;
}

describe('restore through readSpans', () => {
  for (const engine of ['memory', 'lmdb'] as const) {
    it(`restores a ${engine} store to the same state, counts and marker as through read`, async (t) => {
      const root = tempDir(t);
      const log = await openEmbeddedLog({ dir: join(root, 'log'), fsync: 'os' });
      t.after(() => log.close());
      await log.createTopic(TOPIC, { partitions: 1 });
      const records = [];
      for (let i = 0; i < 3000; i++) {
        const key = i % 500 === 7 ? null : Buffer.from(`k${i % 700}`);
        records.push({ key, value: i % 11 === 0 ? null : Buffer.from(`v${i}`.repeat(1 + (i % 3))) });
      }
      await log.append(TOPIC, 0, records);
      const results = [];
      for (const [name, source] of [
        ['read', log],
        ['readSpans', withSpans(log)],
      ] as const) {
        const store = await openStore({
          name: `${name}/0`,
          dir: join(root, name),
          engine,
          key: serdes.string,
          value: serdes.string,
        });
        t.after(() => store.close());
        const result = await restoreStore(
          store as unknown as RestorableStore,
          'spans',
          source,
          TOPIC,
          0,
          () => {},
          { upTo: 2500 },
        );
        results.push({
          restored: result.restored,
          bytes: result.bytes,
          mode: result.mode,
          marker: store.changelogPosition(),
          metrics: store.metrics().restoreRecords,
          state: await contents(store),
        });
      }
      assert.equal((results[1] as unknown as { state: unknown[] }).state.length > 0, true);
      assert.deepEqual(results[1], results[0]);
      assert.deepEqual(results[0].marker, { offset: 2500, clean: true });
      // 2501 records up to the checkpoint, 5 of them keyless
      assert.equal(results[0].restored, 2496);
    });
  }

  it('uses readSpans when the log has it', async (t) => {
    const root = tempDir(t);
    const log = withSpans(await openEmbeddedLog({ dir: join(root, 'log'), fsync: 'os' }));
    t.after(() => log.close());
    await log.createTopic(TOPIC, { partitions: 1 });
    await log.append(TOPIC, 0, [{ key: Buffer.from('a'), value: Buffer.from('1') }]);
    const store = await openStore({
      name: 's/0',
      dir: join(root, 's'),
      engine: 'memory',
      key: serdes.string,
      value: serdes.string,
    });
    t.after(() => store.close());
    const result = await restoreStore(store as unknown as RestorableStore, 's', log, TOPIC, 0, () => {});
    assert.equal(result.restored, 1);
    assert.equal(log.spanReads, 1);
    assert.equal(store.get('a'), '1');
  });
});
