/**
 * The log owner and `ThreadLog` protocol, over a real `MessageChannel` (both ends in this thread:
 * the messages, transfers and error rebuilding are the same as across threads).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { openEmbeddedLog } from '../../../src/log/embedded/embedded-log.js';
import { batchCrcOk } from '../../../src/log/embedded/record-batch.js';
import { MemoryLog } from '../../../src/log/memory/memory-log.js';
import { appendBuffered, RecordBuffer } from '../../../src/log/record-buffer.js';
import type { Log, LogRecord } from '../../../src/log/types.js';
import { LogOwner } from '../../../src/runtime/threads/log-owner.js';
import { decodeRecords, encodeRecords } from '../../../src/runtime/threads/record-frames.js';
import { ThreadLog } from '../../../src/runtime/threads/thread-log.js';
import { TransferSlots } from '../../../src/runtime/threads/transfer-slots.js';
import { JobError, TopicExistsError, UnknownTopicError } from '../../../src/util/errors.js';

function pair<L extends Log = MemoryLog>(
  t: { after(fn: () => unknown): void },
  inner: L = new MemoryLog() as unknown as L,
  encodedBatches = false,
  cleanup = () => {},
  slots?: TransferSlots,
) {
  const owner = new LogOwner(inner);
  const channel = new MessageChannel();
  owner.attach(channel.port1, 'thread 7', slots);
  const threadSide = slots === undefined ? undefined : TransferSlots.of(slots.shared);
  const log = new ThreadLog(channel.port2, inner.backend, inner.supports, encodedBatches, false, threadSide);
  t.after(async () => {
    await log.close();
    await owner.close();
    channel.port1.close();
    channel.port2.close();
    await inner.close();
    cleanup();
  });
  return { inner, owner, log, port: channel.port1 };
}

describe('record frames', () => {
  it('round-trip keys, values, tombstones, null keys, headers and timestamps; bytes are views of one buffer', () => {
    const records: LogRecord[] = [
      {
        offset: 5,
        timestamp: 1_700_000_000_123,
        key: Buffer.from('a'),
        value: Buffer.from('1'),
        headers: {},
      },
      {
        offset: 6,
        timestamp: 7,
        key: null,
        value: Buffer.alloc(0),
        headers: { h: Buffer.from('x'), é: Buffer.alloc(0) },
      },
      { offset: 9, timestamp: 8, key: Buffer.from('gone'), value: null, headers: {} },
    ];
    const buffer = encodeRecords(records);
    const decoded = decodeRecords(buffer);
    assert.deepEqual(
      decoded.map((r) => ({ ...r, headers: { ...r.headers } })),
      records,
    );
    assert.equal(decoded[0].key?.buffer, buffer);
    assert.equal(decoded[0].value?.buffer, buffer);
  });
});

describe('ThreadLog over a LogOwner', () => {
  it('appends and reads through the owner, one buffer per call', async (t) => {
    const { inner, log } = pair(t);
    await log.createTopic('t', { partitions: 2 });
    const r = await log.append('t', 1, [
      { key: Buffer.from('k'), value: Buffer.from('v'), headers: { a: Buffer.from('b') } },
      { key: null, value: null, timestamp: 42 },
    ]);
    assert.deepEqual(r, { baseOffset: 0, nextOffset: 2 });
    const direct = await inner.read('t', 1, 0);
    const through = await log.read('t', 1, 0, { maxRecords: 10 });
    assert.deepEqual(
      through.map((x) => ({ ...x, headers: { ...x.headers } })),
      direct.map((x) => ({ ...x, headers: { ...x.headers } })),
    );
    assert.equal(through[1].timestamp, 42);
    assert.equal(await log.endOffset('t', 1), 2);
    assert.equal(await log.earliestOffset('t', 1), 0);
    assert.deepEqual(await log.listTopics(), ['t']);
    assert.equal((await log.describeTopic('t')).partitions.length, 2);
  });

  it('errors cross with their class and code', async (t) => {
    const { log } = pair(t);
    const err = await log.read('nope', 0, 0).catch((e: unknown) => e);
    assert.ok(err instanceof UnknownTopicError, String(err));
    assert.equal((err as UnknownTopicError).code, 'EDDY_UNKNOWN_TOPIC');
    assert.match((err as Error).message, /nope/);
    await log.createTopic('nope', { partitions: 1 });
    const exists = await log.createTopic('nope', { partitions: 1 }).catch((e: unknown) => e);
    assert.ok(exists instanceof TopicExistsError, String(exists));
    assert.equal(exists.code, 'EDDY_TOPIC_EXISTS');
  });

  it('waitForData resolves true on an append, false on timeout and at once on abort', async (t) => {
    const { inner, log } = pair(t);
    await inner.createTopic('w', { partitions: 1 });
    const waiting = log.waitForData('w', 0, 0, 10_000);
    await inner.append('w', 0, [{ value: Buffer.from('x') }]);
    assert.equal(await waiting, true);
    assert.equal(await log.waitForData('w', 0, 1, 20), false);
    const abort = new AbortController();
    const aborted = log.waitForData('w', 0, 1, 60_000, abort.signal);
    abort.abort();
    assert.equal(await aborted, false);
  });

  it('transactions commit or vanish together through the owner', async (t) => {
    const { inner, log } = pair(t);
    await inner.createTopic('x', { partitions: 2 });
    const begin = log.beginTransaction as NonNullable<typeof log.beginTransaction>;
    const txn = await begin();
    await txn.append('x', 0, [{ value: Buffer.from('a') }]);
    await txn.append('x', 1, [{ value: Buffer.from('b') }]);
    assert.equal((await inner.read('x', 0, 0)).length, 0, 'invisible before the commit');
    await txn.commit();
    assert.equal((await inner.read('x', 0, 0)).length, 1);
    assert.equal((await inner.read('x', 1, 0)).length, 1);
    const aborted = await begin();
    await aborted.append('x', 0, [{ value: Buffer.from('c') }]);
    await aborted.abort();
    assert.equal(await inner.endOffset('x', 0), 1);
  });

  it('after a reported failure every write and commit is refused, and an open transaction is aborted', async (t) => {
    const { inner, log } = pair(t);
    await inner.createTopic('f', { partitions: 1 });
    const begin = log.beginTransaction as NonNullable<typeof log.beginTransaction>;
    const open = await begin();
    await open.append('f', 0, [{ value: Buffer.from('in the transaction') }]);
    await log.reportFailure(new Error('task 3 failed'));
    const refused = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => assert.fail('expected a refusal'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof JobError, String(err));
      assert.equal((err as JobError).code, 'EDDY_JOB');
      assert.match((err as Error).message, /^thread 7: .*refused: the job failed \(task 3 failed\)/);
    };
    await refused(open.commit());
    await refused(log.append('f', 0, [{ value: Buffer.from('plain') }]));
    await refused(begin());
    assert.equal(await inner.endOffset('f', 0), 0, 'nothing was committed');
    // reads go on, so threads can stop cleanly
    assert.deepEqual(await log.read('f', 0, 0), []);
  });

  it('detaching a thread (it died) aborts the transaction it left open: the next writer gets its turn', async (t) => {
    const { inner, owner, log, port } = pair(t);
    await inner.createTopic('d', { partitions: 1 });
    const begin = log.beginTransaction as NonNullable<typeof log.beginTransaction>;
    const left = await begin();
    await left.append('d', 0, [{ value: Buffer.from('never') }]);
    await owner.detach(port);
    const next = await (owner.log.beginTransaction as NonNullable<typeof log.beginTransaction>)();
    await next.append('d', 0, [{ value: Buffer.from('kept') }]);
    await next.commit();
    const records = await inner.read('d', 0, 0);
    assert.deepEqual(
      records.map((r) => String(r.value)),
      ['kept'],
    );
  });

  it('close() rejects pending and later calls with LogClosedError', async (t) => {
    const { inner, log } = pair(t);
    await inner.createTopic('c', { partitions: 1 });
    const pending = log.waitForData('c', 0, 0, 60_000);
    await log.close();
    await assert.rejects(pending, { code: 'EDDY_LOG_CLOSED' });
    await assert.rejects(log.endOffset('c', 0), { code: 'EDDY_LOG_CLOSED' });
  });
});

async function embeddedPair(t: { after(fn: () => unknown): void }, slots?: TransferSlots) {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-test-'));
  const embedded = await openEmbeddedLog({ dir, now: () => 1_700_000_000_000 });
  return pair(t, embedded, true, () => rmSync(dir, { recursive: true, force: true }), slots);
}

/** `n` records of `valueBytes` bytes each, value i filled with the char code of `fill` + i % 26. */
function filled(n: number, valueBytes: number, fill = 'a'): RecordBuffer {
  const b = new RecordBuffer({ encode: true, copy: false });
  for (let i = 0; i < n; i++) {
    b.add(Buffer.from(`k${i}`), Buffer.alloc(valueBytes, fill.charCodeAt(0) + (i % 26)));
  }
  return b;
}

const withSlots = [
  ['transferred buffers', undefined],
  ['transfer slots', () => TransferSlots.allocate(4, 64 * 1024)],
] as const;

describe('ThreadLog over a LogOwner of an embedded log', () => {
  for (const [how, slots] of withSlots)
    it(`moves a RecordBuffer as its encoded bytes (appendBuffer), plainly and in a transaction, and reads whole batches (${how})`, async (t) => {
      const { inner, log } = await embeddedPair(t, slots?.());
      assert.equal(typeof log.appendBuffer, 'function');
      await log.createTopic('t', { partitions: 1 });
      const b = new RecordBuffer({ encode: true, copy: false });
      b.add(Buffer.from('a'), Buffer.from('1'));
      b.add(Buffer.from('b'), null, { h: Buffer.from('x') });
      assert.deepEqual(await appendBuffered(log, 't', 0, b), { baseOffset: 0, nextOffset: 2 });
      assert.equal(b.count, 0, 'the bytes moved to the owner');
      const txn = await (log.beginTransaction as NonNullable<typeof log.beginTransaction>)();
      assert.equal(typeof txn.appendBuffer, 'function');
      b.add(Buffer.from('c'), Buffer.from('3'));
      await appendBuffered(txn, 't', 0, b);
      assert.equal((await inner.read('t', 0, 0)).length, 2, 'the transaction is not visible yet');
      await txn.commit();
      const records = await inner.read('t', 0, 0);
      assert.deepEqual(
        records.map((r) => [
          r.offset,
          r.key?.toString(),
          r.value?.toString() ?? null,
          Object.keys(r.headers),
        ]),
        [
          [0, 'a', '1', []],
          [1, 'b', null, ['h']],
          [2, 'c', '3', []],
        ],
      );
      // the owner combined each batch's header CRC with the records' CRC taken in the thread
      const raw = await (inner.readBatches as NonNullable<typeof inner.readBatches>)('t', 0, 0);
      const bytes = Buffer.from(raw.buffer, raw.byteOffset ?? 0, raw.length);
      let batches = 0;
      for (let p = 0; p < bytes.length; p += bytes.readUInt32LE(p + 4), batches++)
        assert.ok(batchCrcOk(bytes, p, bytes.readUInt32LE(p + 4)), `the CRC of batch ${batches}`);
      assert.equal(batches, 2);
      const through = await log.read('t', 0, 1, { maxRecords: 10 });
      assert.deepEqual(
        through.map((r) => [r.offset, r.key?.toString(), r.timestamp]),
        [
          [1, 'b', 1_700_000_000_000],
          [2, 'c', 1_700_000_000_000],
        ],
        'a read through the owner (its batches, decoded in the thread) starts at the offset asked',
      );
    });
});

describe('transfer slots', () => {
  it('a read copied out of its slot stays intact while later reads reuse the slot', async (t) => {
    const slots = TransferSlots.allocate(1, 64 * 1024);
    const { log } = await embeddedPair(t, slots);
    await log.createTopic('t', { partitions: 1 });
    for (const fill of ['a', 'A']) await appendBuffered(log, 't', 0, filled(10, 100, fill));
    const first = await log.read('t', 0, 0, { maxRecords: 10 });
    assert.ok(slots.bytes(0).includes(Buffer.alloc(100, 'a')), 'the batches went through the shared slot');
    const second = await log.read('t', 0, 10, { maxRecords: 10 });
    assert.ok(slots.bytes(0).includes(Buffer.alloc(100, 'A')), 'the slot was reused');
    assert.deepEqual(
      first.map((r) => [r.offset, r.value?.toString()]),
      Array.from({ length: 10 }, (_, i) => [i, String.fromCharCode(97 + i).repeat(100)]),
      "the first read's records are views of a buffer of their own",
    );
    assert.equal(first[0].value?.buffer === slots.memory, false);
    assert.deepEqual(
      second.map((r) => r.offset),
      Array.from({ length: 10 }, (_, i) => 10 + i),
    );
  });

  it('reads and appends larger than a slot, or with every slot lent, transfer buffers instead', async (t) => {
    const slots = TransferSlots.allocate(2, 2048);
    const { inner, log } = await embeddedPair(t, slots);
    await log.createTopic('t', { partitions: 3 });
    const big = filled(50, 100, 'a'); // ~5.5 KB: more than a slot
    assert.ok(big.byteLength > slots.slotBytes);
    assert.deepEqual(await appendBuffered(log, 't', 0, big), { baseOffset: 0, nextOffset: 50 });
    assert.equal(big.count, 0);
    assert.equal(slots.bytes(0).includes(Buffer.alloc(100, 'a')), false, 'no slot was written');
    const read = await log.read('t', 0, 0, { maxRecords: 100 });
    assert.equal(read.length, 50);
    assert.equal(read[49].value?.toString(), String.fromCharCode(97 + (49 % 26)).repeat(100));
    // six small appends and six reads at once: two go through the slots, the others transfer
    await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => appendBuffered(log, 't', 1 + (i % 2), filled(3, 10, 'p'))),
    );
    const reads = await Promise.all([1, 2, 1, 2, 1, 2].map((p) => log.read('t', p, 0, { maxRecords: 100 })));
    for (const r of reads) assert.equal(r.length, 9);
    assert.deepEqual(
      (await inner.read('t', 2, 0, { maxRecords: 100 })).map((r) => r.key?.toString()),
      ['k0', 'k1', 'k2', 'k0', 'k1', 'k2', 'k0', 'k1', 'k2'],
    );
  });

  it('a RecordBuffer copied out keeps its capacity and takes new records', () => {
    const b = filled(3, 10);
    const target = Buffer.alloc(4096);
    const info = b.copyOut(target);
    assert.equal(info.count, 3);
    assert.equal(b.count, 0);
    const again = RecordBuffer.fromEncoded(info, target);
    assert.deepEqual(
      again.records().map((r) => r.key?.toString()),
      ['k0', 'k1', 'k2'],
    );
    b.add(Buffer.from('x'), Buffer.from('y'));
    assert.equal(b.count, 1);
    assert.throws(() => filled(100, 100).copyOut(Buffer.alloc(64)), /do not fit/);
  });
});
