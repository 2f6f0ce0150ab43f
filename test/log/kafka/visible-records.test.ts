/**
 * Eddy's decoder of Kafka fetch responses and v2 record batches (fetch-response.ts,
 * record-batch.ts, visible-records.ts), without a broker: batches are encoded by the Kafka
 * client's own encoder (`createRecordsBatch`), then placed at chosen offsets.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRecordsBatch, type MessageRecord } from '@platformatic/kafka';
import { decodeFetchResponse, type FetchedPartition } from '../../../src/log/kafka/fetch-response.js';
import { hasProtocolError } from '../../../src/log/kafka/kafka-errors.js';
import { VisibleRecords } from '../../../src/log/kafka/visible-records.js';
import { SpanBuilder } from '../../../src/log/record-spans.js';
import type { LogRecord, RecordSpans } from '../../../src/log/types.js';
import { crc32c } from '../../../src/util/crc32c.js';

const T0 = 1_700_000_000_000n;

interface BatchSpec {
  baseOffset: number;
  records: { key: string | null; value: string | null; headers?: Record<string, string>; ts?: number }[];
  producerId?: bigint;
  transactional?: boolean;
  control?: 'abort' | 'commit';
  compression?: 'gzip';
}

/** One v2 batch, as the client encodes it, moved to `baseOffset` (and made a control batch). */
function batch(spec: BatchSpec): Buffer {
  let messages: MessageRecord[];
  if (spec.control !== undefined) {
    const key = Buffer.alloc(4);
    key.writeInt16BE(spec.control === 'abort' ? 0 : 1, 2);
    messages = [{ topic: 't', key, value: Buffer.alloc(6), timestamp: T0 } as unknown as MessageRecord];
  } else {
    messages = spec.records.map(
      (r, i) =>
        ({
          topic: 't',
          key: r.key === null ? null : Buffer.from(r.key),
          value: r.value === null ? null : Buffer.from(r.value),
          headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
          timestamp: T0 + BigInt(r.ts ?? i),
        }) as unknown as MessageRecord,
    );
  }
  const buf = Buffer.from(
    createRecordsBatch(messages, {
      producerId: spec.producerId ?? -1n,
      producerEpoch: 0,
      compression: spec.compression ?? 'none',
      ...(spec.transactional || spec.control ? { transactionalId: 'tx' } : {}),
    }).buffer,
  );
  buf.writeBigInt64BE(BigInt(spec.baseOffset), 0);
  if (spec.control !== undefined) {
    buf.writeInt16BE(buf.readInt16BE(21) | 0x30, 21);
    buf.writeUInt32BE(crc32c(buf.subarray(21)), 17);
  }
  return buf;
}

function partition(
  records: Buffer,
  aborted: { producerId: bigint; firstOffset: number }[] = [],
): FetchedPartition {
  return {
    partitionIndex: 0,
    errorCode: 0,
    highWatermark: 100,
    lastStableOffset: 100,
    logStartOffset: 0,
    abortedTransactions: aborted,
    records,
  };
}

function takeAll(view: VisibleRecords): LogRecord[] {
  const out: LogRecord[] = [];
  view.take(out, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  return out;
}

const text = (b: Buffer | null) => (b === null ? null : b.toString());

describe('Kafka record batches, decoded by Eddy', () => {
  test('decodes offsets, timestamps, keys, values, tombstones, null keys and headers', () => {
    const records = Buffer.concat([
      batch({
        baseOffset: 10,
        records: [
          { key: 'a', value: 'one', ts: 5 },
          { key: null, value: 'two', headers: { h1: 'x', h2: '' } },
          { key: 'c', value: null },
        ],
      }),
      batch({ baseOffset: 13, records: [{ key: 'd', value: 'four' }] }),
    ]);
    const view = new VisibleRecords(partition(records), 10, 't/0');
    const got = takeAll(view);
    assert.deepEqual(
      got.map((r) => [r.offset, text(r.key), text(r.value)]),
      [
        [10, 'a', 'one'],
        [11, null, 'two'],
        [12, 'c', null],
        [13, 'd', 'four'],
      ],
    );
    assert.equal(got[0].timestamp, Number(T0) + 5);
    assert.deepEqual(Object.keys(got[1].headers), ['h1', 'h2']);
    assert.equal(got[1].headers.h1.toString(), 'x');
    assert.equal(got[1].headers.h2.length, 0);
    assert.deepEqual(got[0].headers, {});
    assert.equal(view.nextOffset, 14);
    assert.equal(view.done, true);
  });

  test('stops mid-batch at maxRecords or maxBytes and the next take continues there', () => {
    const recs = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(10) }));
    const view = new VisibleRecords(partition(batch({ baseOffset: 0, records: recs })), 0, 't/0');
    const out: LogRecord[] = [];
    assert.deepEqual(view.take(out, 3, Number.MAX_SAFE_INTEGER, true), { bytes: 36, full: true });
    assert.equal(view.nextOffset, 3);
    // 12 bytes a record: 30 bytes take 2 more; the third does not fit and stays
    assert.deepEqual(view.take(out, 100, 30, false), { bytes: 24, full: true });
    assert.equal(view.nextOffset, 5);
    // at least one, even over the budget
    assert.deepEqual(view.take(out, 100, 1, true), { bytes: 12, full: true });
    view.take(out, 100, Number.MAX_SAFE_INTEGER, false);
    assert.deepEqual(
      out.map((r) => r.offset),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.equal(view.done, true);
  });

  test('skips the records below the fetch offset inside the first batch', () => {
    const recs = Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    const view = new VisibleRecords(partition(batch({ baseOffset: 20, records: recs })), 23, 't/0');
    assert.deepEqual(
      takeAll(view).map((r) => r.offset),
      [23, 24],
    );
  });

  test('hides control batches and aborted transactions, and passes their offsets', () => {
    const pid = 5n;
    const aborted = [
      batch({
        baseOffset: 0,
        producerId: pid,
        transactional: true,
        records: [
          { key: 'x', value: '1' },
          { key: 'y', value: '2' },
        ],
      }),
      batch({ baseOffset: 2, producerId: pid, control: 'abort', records: [] }),
    ];
    const rest = [
      batch({
        baseOffset: 3,
        producerId: pid,
        transactional: true,
        records: [
          { key: 'z', value: '3' },
          { key: 'w', value: '4' },
        ],
      }),
      batch({ baseOffset: 5, producerId: pid, control: 'commit', records: [] }),
      batch({ baseOffset: 6, records: [{ key: 'p', value: 'plain' }] }),
      batch({ baseOffset: 7, producerId: pid, control: 'commit', records: [] }),
    ];
    const list = [{ producerId: pid, firstOffset: 0 }];
    const view = new VisibleRecords(partition(Buffer.concat([...aborted, ...rest]), list), 0, 't/0');
    assert.deepEqual(
      takeAll(view).map((r) => [r.offset, text(r.key)]),
      [
        [3, 'z'],
        [4, 'w'],
        [6, 'p'],
      ],
    );
    assert.equal(view.nextOffset, 8);
    // a range of only an aborted transaction and its marker: nothing visible, the offset moves past it
    const hidden = new VisibleRecords(partition(Buffer.concat(aborted), list), 0, 't/0');
    assert.deepEqual(takeAll(hidden), []);
    assert.equal(hidden.nextOffset, 3);
  });

  test('decodes a gzip-compressed batch', () => {
    const recs = Array.from({ length: 50 }, (_, i) => ({
      key: `key-${i}`,
      value: 'compressible '.repeat(5),
    }));
    const view = new VisibleRecords(
      partition(batch({ baseOffset: 100, records: recs, compression: 'gzip' })),
      100,
      't/0',
    );
    const got = takeAll(view);
    assert.equal(got.length, 50);
    assert.equal(text(got[49].key), 'key-49');
    assert.equal(got[49].offset, 149);
  });

  test('rejects a batch whose CRC-32C does not match with EDDY_CORRUPT_LOG naming the offset', () => {
    const buf = batch({ baseOffset: 7, records: [{ key: 'a', value: 'b' }] });
    buf[buf.length - 3] ^= 0xff;
    const view = new VisibleRecords(partition(buf), 7, 'topic-x/2');
    assert.throws(
      () => takeAll(view),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EDDY_CORRUPT_LOG');
        assert.match(err.message, /offset 7 of topic-x\/2/);
        return true;
      },
    );
  });

  test('takeSpans gives the records take gives, as spans, with the same budget and continuation', () => {
    const records = Buffer.concat([
      batch({
        baseOffset: 10,
        records: [
          { key: 'below', value: 'x' },
          { key: 'a', value: 'one' },
        ],
      }),
      batch({
        baseOffset: 12,
        records: [
          { key: null, value: 'two', headers: { h: 'xyz' } },
          { key: 'c', value: null },
        ],
      }),
      batch({
        baseOffset: 14,
        records: [{ key: 'aborted', value: 'no' }],
        producerId: 7n,
        transactional: true,
      }),
      batch({ baseOffset: 15, records: [], producerId: 7n, control: 'abort' }),
      batch({
        baseOffset: 16,
        records: [
          { key: 'z', value: 'zipped' },
          { key: 'y', value: '' },
        ],
        compression: 'gzip',
      }),
      batch({ baseOffset: 18, records: [{ key: 'e', value: 'five' }] }),
    ]);
    const aborted = [{ producerId: 7n, firstOffset: 14 }];
    const spans = (blocks: RecordSpans[]) =>
      blocks.flatMap((b) =>
        Array.from({ length: b.count }, (_, i) => [
          b.offsets[i],
          b.keyLength[i] < 0 ? null : b.buf.toString('utf8', b.keyStart[i], b.keyStart[i] + b.keyLength[i]),
          b.valueLength[i] < 0
            ? null
            : b.buf.toString('utf8', b.valueStart[i], b.valueStart[i] + b.valueLength[i]),
        ]),
      );
    const all = takeAll(new VisibleRecords(partition(records, aborted), 11, 't/0')).map((r) => [
      r.offset,
      text(r.key),
      text(r.value),
    ]);
    assert.deepEqual(all, [
      [11, 'a', 'one'],
      [12, null, 'two'],
      [13, 'c', null],
      [16, 'z', 'zipped'],
      [17, 'y', ''],
      [18, 'e', 'five'],
    ]);
    const whole = new SpanBuilder();
    new VisibleRecords(partition(records, aborted), 11, 't/0').takeSpans(whole, 100, 1 << 20, true);
    const blocks = whole.finish();
    assert.deepEqual(spans(blocks), all);
    // the uncompressed batches are spans of the fetch's buffer; the gzip batch is a block of its own
    assert.equal(blocks.length, 3);
    assert.equal(blocks[0].buf, records);
    assert.equal(blocks[2].buf, records);
    assert.notEqual(blocks[1].buf, records);
    // the same budgets as take (header bytes count): 2 records, then 7 bytes, then the rest
    const budgets = [
      [2, 1000],
      [100, 7],
      [100, 1000],
    ];
    const byTake = new VisibleRecords(partition(records, aborted), 11, 't/0');
    const bySpans = new VisibleRecords(partition(records, aborted), 11, 't/0');
    for (const [n, bytes] of budgets) {
      const expected: LogRecord[] = [];
      const want = byTake.take(expected, n, bytes, true);
      const out = new SpanBuilder();
      const got = bySpans.takeSpans(out, n, bytes, true);
      assert.deepEqual(
        spans(out.finish()),
        expected.map((r) => [r.offset, text(r.key), text(r.value)]),
      );
      assert.deepEqual(got, want);
      assert.equal(bySpans.nextOffset, byTake.nextOffset);
    }
    assert.equal(bySpans.nextOffset, 19);
  });

  test('ignores a batch the broker cut short at the end of the fetch', () => {
    const whole = batch({ baseOffset: 0, records: [{ key: 'a', value: 'b' }] });
    const next = batch({ baseOffset: 1, records: [{ key: 'c', value: 'd' }] });
    const view = new VisibleRecords(
      partition(Buffer.concat([whole, next.subarray(0, next.length - 4)])),
      0,
      't/0',
    );
    assert.deepEqual(
      takeAll(view).map((r) => r.offset),
      [0],
    );
    assert.equal(view.nextOffset, 1);
    assert.equal(view.fetchEnd(), 1);
    assert.equal(view.done, true);
  });
});

/** A Fetch v17 response body: one topic, one partition. */
function responseBody(p: {
  errorCode?: number;
  aborted?: { producerId: bigint; firstOffset: bigint }[];
  records: Buffer | null;
}): Buffer {
  const parts: Buffer[] = [];
  const int = (n: number, size: 2 | 4) => {
    const b = Buffer.alloc(size);
    if (size === 2) b.writeInt16BE(n);
    else b.writeInt32BE(n);
    parts.push(b);
  };
  const long = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(n);
    parts.push(b);
  };
  const uvarint = (n: number) => {
    const bytes: number[] = [];
    while (n >= 0x80) {
      bytes.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    bytes.push(n);
    parts.push(Buffer.from(bytes));
  };
  int(0, 4); // throttle
  int(0, 2); // error
  int(0, 4); // session
  uvarint(2); // one topic
  parts.push(Buffer.alloc(16, 1)); // topic id
  uvarint(2); // one partition
  int(0, 4);
  int(p.errorCode ?? 0, 2);
  long(42n); // high watermark
  long(40n); // last stable offset
  long(3n); // log start
  const aborted = p.aborted ?? [];
  uvarint(aborted.length + 1);
  for (const a of aborted) {
    long(a.producerId);
    long(a.firstOffset);
    uvarint(0);
  }
  int(-1, 4); // preferred read replica
  if (p.records === null) uvarint(0);
  else {
    uvarint(p.records.length + 1);
    parts.push(p.records);
  }
  // a tagged field on the partition (tag 0, 3 bytes), as newer brokers send
  uvarint(1);
  uvarint(0);
  uvarint(3);
  parts.push(Buffer.from([1, 2, 3]));
  uvarint(0); // topic tags
  uvarint(0); // response tags
  return Buffer.concat(parts);
}

describe('Fetch v17 responses, decoded by Eddy', () => {
  test('reads the partition header, aborted transactions and the raw records, skipping tagged fields', () => {
    const records = batch({ baseOffset: 3, records: [{ key: 'a', value: 'b' }] });
    const part = decodeFetchResponse(
      responseBody({ records, aborted: [{ producerId: 9n, firstOffset: 4n }] }),
    );
    assert.equal(part.highWatermark, 42);
    assert.equal(part.lastStableOffset, 40);
    assert.equal(part.logStartOffset, 3);
    assert.deepEqual(part.abortedTransactions, [{ producerId: 9n, firstOffset: 4 }]);
    assert.deepEqual(part.records, records);
    assert.equal(decodeFetchResponse(responseBody({ records: null })).records.length, 0);
  });

  test("turns a partition's error code into the client's ResponseError with the broker's error id", () => {
    assert.throws(
      () => decodeFetchResponse(responseBody({ errorCode: 1, records: null })),
      (err: unknown) => hasProtocolError(err, 'OFFSET_OUT_OF_RANGE'),
    );
  });
});
