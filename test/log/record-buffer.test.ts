/**
 * `RecordBuffer` and `appendBuffered` (record-buffer.ts): records encoded at `add` reach the log as
 * the same records a plain `append` writes — keys, values, tombstones, headers, offsets, the
 * append's time — on the embedded log (one encoded batch), inside its transactions, and through
 * the fallback to `append` on a log without `appendBuffer`; a record with its own timestamp turns
 * the buffer into objects without losing what it held; the size limit still names the record.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type EmbeddedLog, openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { BatchDecoder, batchCrcOk, decodeBatches } from '../../src/log/embedded/record-batch.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { appendBuffered, RecordBuffer } from '../../src/log/record-buffer.js';
import type { Log, LogRecord } from '../../src/log/types.js';

const T = 1_700_000_000_000;

/** An embedded log at time T, closed before its directory is removed. */
async function open(t: { after(fn: () => unknown): void }): Promise<EmbeddedLog> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-test-'));
  const log = await openEmbeddedLog({ dir, now: () => T });
  t.after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return log;
}

function view(r: LogRecord) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k] = v.toString();
  return {
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key?.toString() ?? null,
    value: r.value?.toString() ?? null,
    headers,
  };
}

async function readAll(log: Log, topic: string): Promise<ReturnType<typeof view>[]> {
  return (await log.read(topic, 0, 0, { maxRecords: 10_000 })).map(view);
}

function fill(b: RecordBuffer): void {
  b.add(Buffer.from('k1'), Buffer.from('v1'));
  b.add(null, Buffer.from('no key'));
  b.add(Buffer.from('k1'), null);
  b.add(Buffer.from('k2'), Buffer.alloc(0), { trace: Buffer.from('abc'), héader: Buffer.from('é') });
}

const EXPECTED = [
  { offset: 0, timestamp: T, key: 'k1', value: 'v1', headers: {} },
  { offset: 1, timestamp: T, key: null, value: 'no key', headers: {} },
  { offset: 2, timestamp: T, key: 'k1', value: null, headers: {} },
  { offset: 3, timestamp: T, key: 'k2', value: '', headers: { trace: 'abc', héader: 'é' } },
];

describe('RecordBuffer', () => {
  it('encoded records reach the embedded log as one batch, the same records a plain append writes', async (t) => {
    const log = await open(t);
    await log.createTopic('buffered', { partitions: 1 });
    await log.createTopic('plain', { partitions: 1 });
    const b = new RecordBuffer({ encode: true, copy: false });
    fill(b);
    assert.equal(b.count, 4);
    assert.ok(b.encoded);
    const r = await appendBuffered(log, 'buffered', 0, b);
    assert.deepEqual(r, { baseOffset: 0, nextOffset: 4 });
    const plain = new RecordBuffer({ encode: false, copy: true });
    fill(plain);
    await log.append('plain', 0, plain.records());
    assert.deepEqual(await readAll(log, 'buffered'), EXPECTED);
    assert.deepEqual(await readAll(log, 'plain'), EXPECTED);
  });

  it('is reused after reset, and a second batch follows the first', async (t) => {
    const log = await open(t);
    await log.createTopic('c', { partitions: 1 });
    const b = new RecordBuffer({ encode: true, copy: false });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5000; i++) b.add(Buffer.from(`k${i}`), Buffer.alloc(100, round));
      await appendBuffered(log, 'c', 0, b);
      b.reset();
      assert.equal(b.count, 0);
    }
    const all = await log.read('c', 0, 0, { maxRecords: 20_000, maxBytes: 1 << 30 });
    assert.equal(all.length, 15_000);
    assert.deepEqual(
      all.filter((_, i) => i % 5000 === 4999).map((r) => [r.offset, r.key?.toString(), r.value?.[0]]),
      [
        [4999, 'k4999', 0],
        [9999, 'k4999', 1],
        [14999, 'k4999', 2],
      ],
    );
  });

  it('copies what it encodes: changing the bytes after add changes nothing', async (t) => {
    const log = await open(t);
    await log.createTopic('c', { partitions: 1 });
    for (const options of [
      { encode: true, copy: false },
      { encode: false, copy: true },
    ]) {
      const key = Buffer.from('key');
      const value = Buffer.from('value');
      const b = new RecordBuffer(options);
      b.add(key, value);
      key.fill(0x78);
      value.fill(0x78);
      await appendBuffered(log, 'c', 0, b);
    }
    assert.deepEqual(
      (await readAll(log, 'c')).map((r) => `${r.key}=${r.value}`),
      ['key=value', 'key=value'],
    );
  });

  it('a record with its own timestamp turns the buffer into objects, keeping the records before it', async (t) => {
    const log = await open(t);
    await log.createTopic('c', { partitions: 1 });
    const b = new RecordBuffer({ encode: true, copy: false });
    b.add(Buffer.from('a'), Buffer.from('1'));
    b.add(Buffer.from('b'), Buffer.from('2'), undefined, T - 5000);
    assert.equal(b.encoded, false);
    b.add(Buffer.from('c'), Buffer.from('3'));
    await appendBuffered(log, 'c', 0, b);
    assert.deepEqual(
      (await readAll(log, 'c')).map((r) => [r.key, r.value, r.timestamp]),
      [
        ['a', '1', T],
        ['b', '2', T - 5000],
        ['c', '3', T],
      ],
    );
    b.reset();
    assert.equal(b.encoded, true, 'reset makes it encode again');
  });

  it('falls back to append on a log without appendBuffer (the memory log)', async () => {
    const log = new MemoryLog(() => T);
    await log.createTopic('c', { partitions: 1 });
    assert.equal((log as Log).appendBuffer, undefined);
    const b = new RecordBuffer({ encode: true, copy: false });
    fill(b);
    await appendBuffered(log, 'c', 0, b);
    assert.deepEqual(await readAll(log, 'c'), EXPECTED);
    await log.close();
  });

  it('inside a transaction, the records appear at its commit and vanish with its abort', async (t) => {
    const log = await open(t);
    await log.createTopic('c', { partitions: 1 });
    const b = new RecordBuffer({ encode: true, copy: false });
    fill(b);
    const aborted = await log.beginTransaction();
    await appendBuffered(aborted, 'c', 0, b);
    assert.deepEqual(await readAll(log, 'c'), []);
    await aborted.abort();
    const txn = await log.beginTransaction();
    await appendBuffered(txn, 'c', 0, b);
    assert.deepEqual(await readAll(log, 'c'), []);
    await txn.commit();
    assert.deepEqual(await readAll(log, 'c'), EXPECTED);
  });

  it('a record over maxRecordBytes fails the append, naming it, and nothing is written', async (t) => {
    const log = await open(t);
    await log.createTopic('c', { partitions: 1, maxRecordBytes: 100 });
    const b = new RecordBuffer({ encode: true, copy: false });
    b.add(Buffer.from('a'), Buffer.alloc(10));
    b.add(Buffer.from('b'), Buffer.alloc(100));
    b.add(Buffer.from('c'), Buffer.alloc(10));
    await assert.rejects(appendBuffered(log, 'c', 0, b), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EDDY_RECORD_TOO_LARGE');
      assert.ok(err.message.includes('record 1 of 3 of the append'), err.message);
      assert.ok(err.message.includes('is 101 bytes'), err.message);
      return true;
    });
    assert.equal(await log.endOffset('c', 0), 0);
  });
});

describe('readBatches', () => {
  it('gives, decoded, the records read gives: at any offset, across batches and segments, up to the visible end', async (t) => {
    const log = await open(t);
    await log.createTopic('c', { partitions: 1, segmentBytes: 4096 });
    for (let b = 0; b < 40; b++) {
      const records = [];
      for (let i = 0; i < 1 + (b % 7); i++)
        records.push({ key: Buffer.from(`k${b}.${i}`), value: Buffer.alloc(50, b) });
      await log.append('c', 0, records);
    }
    const txn = await log.beginTransaction();
    await txn.append('c', 0, [{ key: Buffer.from('invisible'), value: Buffer.from('x') }]);
    const end = await log.endOffset('c', 0);
    const show = (rs: LogRecord[]) => rs.map((r) => `${r.offset}:${r.key}`);
    for (let offset = 0; offset < end; offset += 3) {
      for (const maxRecords of [1, 5, 1000]) {
        const batches = await log.readBatches('c', 0, offset, { maxRecords });
        const decoded = decodeBatches(batches);
        const read = await log.read('c', 0, offset, { maxRecords: 10_000 });
        assert.ok(decoded.length >= 1, `offset ${offset}: at least one record`);
        assert.deepEqual(
          show(decoded),
          show(read.slice(0, decoded.length)),
          `offset ${offset}, maxRecords ${maxRecords}`,
        );
        assert.equal(decoded[0].offset, offset);
        if (maxRecords === 1000)
          assert.equal(decoded.length, read.length, 'a large budget takes everything visible');
        for (const slice of [1, 3, 1000]) {
          const decoder = new BatchDecoder(batches);
          assert.equal(decoder.hasRecords(slice), true);
          const taken: LogRecord[] = [];
          for (let part = decoder.take(slice); part.length > 0; part = decoder.take(slice)) {
            assert.ok(part.length <= slice);
            taken.push(...part);
          }
          assert.deepEqual(show(taken), show(decoded), `BatchDecoder, slices of ${slice}`);
          assert.equal(decoder.nextOffset, decoded[decoded.length - 1].offset + 1);
        }
      }
    }
    await txn.abort();
  });

  it("copies the batches into the caller's buffer when they fit (into), else into their own", async (t) => {
    const log = await open(t);
    await log.createTopic('c', { partitions: 1 });
    await log.append('c', 0, [
      { key: Buffer.from('a'), value: Buffer.alloc(100, 1) },
      { key: Buffer.from('b'), value: Buffer.alloc(100, 2) },
    ]);
    const shared = new SharedArrayBuffer(4096);
    const into = new Uint8Array(shared, 1000, 3000);
    const fit = await log.readBatches('c', 0, 1, { into });
    assert.equal(fit.buffer, shared);
    assert.equal(fit.byteOffset, 1000);
    assert.deepEqual(
      decodeBatches(fit).map((r) => [r.offset, r.key?.toString()]),
      [[1, 'b']],
    );
    const small = await log.readBatches('c', 0, 0, { into: new Uint8Array(shared, 0, 100) });
    assert.notEqual(small.buffer, shared);
    assert.ok(small.buffer instanceof ArrayBuffer);
    assert.equal(decodeBatches(small).length, 2);
  });
});

describe('RecordBuffer.records()', () => {
  it('hands out views that a reset and later adds never overwrite', () => {
    const b = new RecordBuffer({ encode: true, copy: false });
    b.add(Buffer.from('k1'), Buffer.from('v1'));
    const first = b.records();
    b.reset();
    b.add(Buffer.from('XX'), Buffer.from('YY'));
    assert.equal(first[0].key?.toString(), 'k1');
    assert.equal(first[0].value?.toString(), 'v1');
  });
});

describe('RecordBuffer handed to another thread', () => {
  it('seals the same batch, CRC included, from the records CRC taken where they were encoded', () => {
    const original = new RecordBuffer({ encode: true, copy: false });
    fill(original);
    const copy = new RecordBuffer({ encode: true, copy: false });
    fill(copy);
    const target = Buffer.alloc(4096);
    const info = copy.copyOut(target);
    const adopted = RecordBuffer.fromEncoded(info, target);
    const expected = Buffer.from(original.seal(7, T, 0));
    const sealed = adopted.seal(7, T, 0);
    assert.ok(batchCrcOk(sealed, 0, sealed.length));
    assert.deepEqual(sealed, expected);
    // a detached (transferred) buffer likewise
    const detached = new RecordBuffer({ encode: true, copy: false });
    fill(detached);
    assert.deepEqual(RecordBuffer.fromEncoded(detached.detach()).seal(7, T, 0), expected);
  });

  it('checksums the whole batch again once a record is added after it was handed over', () => {
    const b = new RecordBuffer({ encode: true, copy: false });
    fill(b);
    const target = Buffer.alloc(4096);
    const adopted = RecordBuffer.fromEncoded(b.copyOut(target), target);
    adopted.add(Buffer.from('late'), Buffer.from('record'));
    const sealed = adopted.seal(0, T, 0);
    assert.ok(batchCrcOk(sealed, 0, sealed.length));
    assert.equal(adopted.count, 5);
  });
});
