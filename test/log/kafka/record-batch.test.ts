/**
 * Eddy's record-batch encoder (record-batch.ts) and its Produce v11 request (eddy-producer.ts):
 * byte for byte what the Kafka client writes, and decoded back by Eddy's decoder.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRecordsBatch, type MessageRecord, NumericMap, produceV11 } from '@platformatic/kafka';
import { createProduceRequest, preEncodedMessage } from '../../../src/log/kafka/eddy-producer.js';
import { encodeRecordBatch } from '../../../src/log/kafka/record-batch.js';
import { writeProducerFields } from '../../../src/log/kafka/record-writer.js';
import { VisibleRecords } from '../../../src/log/kafka/visible-records.js';
import { RecordBuffer } from '../../../src/log/record-buffer.js';
import type { LogRecord } from '../../../src/log/types.js';

function messages(topic = 't', partition = 0) {
  return [
    {
      topic,
      partition,
      key: Buffer.from('a'),
      value: Buffer.from('one'),
      headers: new Map(),
      timestamp: 1_700_000_000_000n,
    },
    {
      topic,
      partition,
      key: null,
      value: Buffer.alloc(300, 7), // a two-byte length varint
      headers: new Map([[Buffer.from('h'), Buffer.from('v')]]),
      timestamp: 1_700_000_000_250n,
    },
    {
      topic,
      partition,
      key: Buffer.from('c'),
      value: null,
      headers: new Map(),
      timestamp: 1_699_999_999_000n,
    },
  ];
}

describe("Eddy's Kafka record-batch encoder", () => {
  test("writes the client's bytes, for plain, idempotent and transactional batches", () => {
    for (const options of [
      {},
      { producerId: 42n, producerEpoch: 3 },
      { producerId: 7n, producerEpoch: 1, transactional: true },
    ]) {
      const theirs = createRecordsBatch(messages() as unknown as MessageRecord[], {
        producerId: options.producerId,
        producerEpoch: options.producerEpoch,
        ...(options.transactional ? { transactionalId: 'tx' } : {}),
      }).buffer;
      assert.deepEqual(
        encodeRecordBatch(messages(), options),
        Buffer.from(theirs),
        JSON.stringify(options, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
      );
    }
  });

  test('is decoded back by the fetch decoder', () => {
    const batch = encodeRecordBatch(messages());
    batch.writeBigInt64BE(100n, 0); // the broker assigns the base offset
    const view = new VisibleRecords(
      {
        partitionIndex: 0,
        errorCode: 0,
        highWatermark: 103,
        lastStableOffset: 103,
        logStartOffset: 0,
        abortedTransactions: [],
        records: batch,
      },
      100,
      't/0',
    );
    const out: LogRecord[] = [];
    view.take(out, 10, Number.MAX_SAFE_INTEGER, true);
    assert.deepEqual(
      out.map((r) => [
        r.offset,
        r.timestamp,
        r.key?.toString() ?? null,
        r.value?.length ?? null,
        Object.keys(r.headers),
      ]),
      [
        [100, 1_700_000_000_000, 'a', 3, []],
        [101, 1_700_000_000_250, null, 300, ['h']],
        [102, 1_699_999_999_000, 'c', null, []],
      ],
    );
  });

  test("builds the client's Produce v11 request, sequences and all", () => {
    const sequences = new NumericMap();
    sequences.set('t:1', 17);
    const topicData = () => [...messages('t', 1), ...messages('u', 0)];
    const options = { producerId: 5n, producerEpoch: 2, sequences, transactionalId: 'tx' };
    const theirs = produceV11.createRequest(-1, 30_000, topicData() as never, options as never).buffer;
    const ours = createProduceRequest(-1, 30_000, topicData(), options).buffer;
    assert.deepEqual(ours, theirs);
  });

  test('base sequences wrap to 0 past 2^31 - 1, as Kafka counts them, in every kind of batch', () => {
    // the client's map counts on (past what its own writer can write: it would throw)
    const counted = new NumericMap();
    counted.set('t:1', 2 ** 31 + 17);
    const sequences = new NumericMap();
    sequences.set('t:1', 17);
    for (const compression of ['none', 'gzip']) {
      const options = { producerId: 5n, producerEpoch: 2, transactionalId: 'tx', compression };
      const theirs = produceV11.createRequest(
        -1,
        30_000,
        messages('t', 1) as never,
        {
          ...options,
          sequences,
        } as never,
      ).buffer;
      const ours = createProduceRequest(-1, 30_000, messages('t', 1), { ...options, sequences: counted });
      assert.deepEqual(ours.buffer, theirs, compression);
    }
    // a pre-encoded batch
    const buf = new RecordBuffer({ encode: true, copy: false, format: 'kafka' });
    buf.add(Buffer.from('a'), Buffer.from('one'));
    const [batch] = buf.kafkaBatches(1_700_000_000_000);
    createProduceRequest(-1, 30_000, [preEncodedMessage('t', 1, batch) as never], {
      producerId: 5n,
      producerEpoch: 2,
      sequences: counted,
    });
    assert.equal(batch.bytes.readInt32BE(53), 17);
  });
});

describe("RecordBuffer's Kafka format (records encoded at add, whole batches at the append)", () => {
  const T = 1_700_000_000_000;
  const records = [
    { key: Buffer.from('a'), value: Buffer.from('one') },
    { key: null, value: Buffer.alloc(300, 7) },
    { key: Buffer.from('c'), value: null, headers: { 'trace-ü': Buffer.from('t'), e: Buffer.alloc(0) } },
  ];

  test('writes the bytes encodeRecordBatch writes for the same records', () => {
    const buf = new RecordBuffer({ encode: true, copy: false, format: 'kafka' });
    for (const r of records) buf.add(r.key, r.value, r.headers);
    const batches = buf.kafkaBatches(T);
    assert.equal(batches.length, 1);
    assert.equal(batches[0].count, 3);
    writeProducerFields(batches[0].bytes, 0, 42n, 3, 17, true);
    const theirs = encodeRecordBatch(
      records.map((r) => ({
        key: r.key,
        value: r.value,
        timestamp: BigInt(T),
        headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), v])),
      })),
      { producerId: 42n, producerEpoch: 3, firstSequence: 17, transactional: true },
    );
    assert.deepEqual(batches[0].bytes, theirs);
  });

  test('starts a new batch before one passes 512 KiB; each decodes with its own offsets', () => {
    const buf = new RecordBuffer({ encode: true, copy: false, format: 'kafka' });
    const value = Buffer.alloc(1000, 1);
    for (let i = 0; i < 1500; i++) buf.add(Buffer.from(`k${i}`), value);
    const batches = buf.kafkaBatches(T);
    assert.equal(batches.length, 3);
    let offset = 0;
    for (const batch of batches) {
      assert.ok(batch.bytes.length <= 512 * 1024, `batch of ${batch.bytes.length} bytes`);
      writeProducerFields(batch.bytes, 0, -1n, 0, 0, false);
      const copy = Buffer.from(batch.bytes);
      copy.writeBigInt64BE(BigInt(offset), 0);
      const view = new VisibleRecords(
        {
          partitionIndex: 0,
          errorCode: 0,
          highWatermark: 2000,
          lastStableOffset: 2000,
          logStartOffset: 0,
          abortedTransactions: [],
          records: copy,
        },
        offset,
        't/0',
      );
      const out: LogRecord[] = [];
      view.take(out, 10_000, Number.MAX_SAFE_INTEGER, true);
      assert.equal(out.length, batch.count);
      for (const r of out) {
        assert.equal(r.key?.toString(), `k${r.offset}`);
        assert.equal(r.timestamp, T);
      }
      offset += batch.count;
    }
    assert.equal(offset, 1500);
  });

  test('a record with its own timestamp turns it into objects, keeping every batch before it', () => {
    const buf = new RecordBuffer({ encode: true, copy: false, format: 'kafka' });
    const value = Buffer.alloc(1000, 2);
    for (let i = 0; i < 600; i++)
      buf.add(Buffer.from(`k${i}`), i === 5 ? null : value, i === 7 ? records[2].headers : undefined);
    buf.add(Buffer.from('late'), Buffer.from('v'), undefined, T - 5);
    assert.equal(buf.encoded, false);
    const got = buf.records();
    assert.equal(got.length, 601);
    for (let i = 0; i < 600; i++) assert.equal(got[i].key?.toString(), `k${i}`);
    assert.equal(got[5].value, null);
    assert.equal(got[7].headers?.['trace-ü'].toString(), 't');
    assert.equal(got[600].timestamp, T - 5);
    assert.throws(() => buf.kafkaBatches(T), /not in the Kafka layout/);
  });

  test('names the record over the size limit, and refuses the embedded layout calls', () => {
    const buf = new RecordBuffer({ encode: true, copy: false, format: 'kafka' });
    buf.add(Buffer.from('a'), Buffer.alloc(10));
    buf.add(Buffer.from('b'), Buffer.alloc(100));
    assert.throws(
      () => buf.checkSizes('t', 0, 50),
      /record 1 of 2 of the append for topic "t" partition 0 is 101 bytes/,
    );
    assert.throws(() => buf.seal(0, T, 0), /not in the embedded layout/);
    assert.throws(() => buf.detach(), /not in the embedded layout/);
  });
});
