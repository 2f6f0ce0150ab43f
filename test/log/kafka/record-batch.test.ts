/**
 * Eddy's record-batch encoder (record-batch.ts) and its Produce v11 request (eddy-producer.ts):
 * byte for byte what the Kafka client writes, and decoded back by Eddy's decoder.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRecordsBatch, type MessageRecord, NumericMap, produceV11 } from '@platformatic/kafka';
import { createProduceRequest } from '../../../src/log/kafka/eddy-producer.js';
import { encodeRecordBatch } from '../../../src/log/kafka/record-batch.js';
import { VisibleRecords } from '../../../src/log/kafka/visible-records.js';
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
});
