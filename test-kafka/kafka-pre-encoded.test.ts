/**
 * Records encoded into Kafka's v2 layout when they are added (`RecordBuffer` with `format: 'kafka'`)
 * and appended as whole pre-encoded batches (`KafkaLog.appendBuffer`, the transaction's
 * `appendBuffer`), on a real broker: they read back exactly as the same records appended through
 * `append` (keys, values, a null key, a tombstone, UTF-8 header names, offsets), also past
 * 512 KiB (several batches) and inside transactions (commit and abort), each batch goes to the
 * client as one message, and the idempotent producer's sequences continue across pre-encoded and
 * plain appends to one partition (a wrong base sequence is OUT_OF_ORDER_SEQUENCE_NUMBER).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kGetApi, NetworkError } from '@platformatic/kafka';
import { type KafkaLog, openKafkaLog, RecordBuffer } from '../src/log/index.js';
import type { AppendRecord, LogRecord } from '../src/log/types.js';
import { startBroker } from './helpers/broker.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Records with every shape: headers (UTF-8 names, an empty value), a null key, a tombstone. */
function sample(n: number, valueBytes = 20): AppendRecord[] {
  const out: AppendRecord[] = [];
  for (let i = 0; i < n; i++) {
    const value = Buffer.alloc(valueBytes, 0x61 + (i % 26));
    if (i % 7 === 3) out.push({ key: null, value });
    else if (i % 7 === 5) out.push({ key: b(`k${i}`), value: null });
    else if (i % 7 === 6)
      out.push({ key: b(`k${i}`), value, headers: { 'trace-ü-名': b(`t${i}`), empty: b('') } });
    else out.push({ key: b(`k${i}`), value });
  }
  return out;
}

function kafkaBuffer(records: readonly AppendRecord[]): RecordBuffer {
  const buf = new RecordBuffer({ encode: true, copy: true, format: 'kafka' });
  for (const r of records) buf.add(r.key ?? null, r.value, r.headers);
  assert.ok(buf.encoded, 'the buffer stays encoded');
  return buf;
}

/** What a read gives, offsets relative to `base`, timestamps left out (the append's clock). */
function shape(records: readonly LogRecord[], base: number): unknown[] {
  return records.map((r) => ({
    offset: r.offset - base,
    key: r.key === null ? null : r.key.toString('hex'),
    value: r.value === null ? null : r.value.toString('hex'),
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString('hex')])),
  }));
}

async function readAll(log: KafkaLog, topic: string, from: number, until: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let offset = from;
  while (offset < until) {
    const got = await log.read(topic, 0, offset, { maxRecords: 10_000, maxBytes: 8 << 20 });
    assert.ok(got.length > 0, `records at ${offset} of ${topic}`);
    for (const r of got) if (r.offset < until) out.push(r);
    offset = got[got.length - 1].offset + 1;
  }
  return out;
}

describe('pre-encoded Kafka batches (RecordBuffer format kafka, appendBuffer) on a real broker', () => {
  const broker = startBroker();
  let log: KafkaLog;
  /** The message counts of every `send` of the log's plain producer. */
  const sends: number[] = [];
  before(async () => {
    log = await openKafkaLog({
      brokers: broker.brokers,
      clientId: 'eddy-pre-encoded-test',
      transactionalId: `eddy-pe-${process.pid}`,
    });
    const producer = (
      log as unknown as { producer: { send: (o: { messages: unknown[] }) => Promise<unknown> } }
    ).producer;
    const send = producer.send.bind(producer);
    producer.send = (o) => {
      sends.push(o.messages.length);
      return send(o);
    };
  });
  after(async () => {
    await log?.close();
  });

  it('reads back what append writes: keys, values, null key, tombstone, headers, offsets, > 512 KiB', async () => {
    await log.createTopic('pe-plain', { partitions: 1 });
    await log.createTopic('pe-encoded', { partitions: 1 });
    const records = sample(4000, 300); // about 1.3 MB: three batches
    const buf = kafkaBuffer(records);
    assert.ok(buf.kafkaBatches(Date.now()).length >= 3, 'several batches of at most 512 KiB');
    const plain = await log.append('pe-plain', 0, records);
    sends.length = 0;
    const encoded = await log.appendBuffer('pe-encoded', 0, buf);
    assert.deepEqual(encoded, { baseOffset: 0, nextOffset: records.length });
    assert.deepEqual(plain, encoded);
    assert.ok(sends.length >= 3, 'one send per batch');
    assert.ok(
      sends.every((n) => n === 1),
      `each batch is one message of the client's: ${sends}`,
    );
    const want = shape(await readAll(log, 'pe-plain', 0, plain.nextOffset), 0);
    const got = shape(await readAll(log, 'pe-encoded', 0, encoded.nextOffset), 0);
    assert.equal(got.length, records.length);
    assert.deepEqual(got, want);
    const first = (await log.read('pe-encoded', 0, 6, { maxRecords: 1 }))[0];
    assert.equal(first.headers['trace-ü-名'].toString(), 't6');
    assert.ok(Math.abs(first.timestamp - Date.now()) < 60_000, 'the append gave the records its time');
  });

  it('continues the idempotent sequence across pre-encoded and plain appends to one partition', async () => {
    await log.createTopic('pe-seq', { partitions: 1 });
    const expected: AppendRecord[] = [];
    let next = 0;
    for (let round = 0; round < 4; round++) {
      const encoded = sample(round === 2 ? 3000 : 50 + round, round === 2 ? 300 : 20);
      const r1 = await log.appendBuffer('pe-seq', 0, kafkaBuffer(encoded));
      assert.deepEqual(r1, { baseOffset: next, nextOffset: next + encoded.length });
      next = r1.nextOffset;
      const plain = sample(3 + round);
      const r2 = await log.append('pe-seq', 0, plain);
      assert.deepEqual(r2, { baseOffset: next, nextOffset: next + plain.length });
      next = r2.nextOffset;
      expected.push(...encoded, ...plain);
    }
    const got = await readAll(log, 'pe-seq', 0, next);
    assert.equal(got.length, expected.length);
    for (let i = 0; i < got.length; i++) {
      assert.equal(got[i].offset, i);
      assert.deepEqual(got[i].key, expected[i].key ?? null);
      assert.deepEqual(got[i].value, expected[i].value);
    }
  });

  it('appends pre-encoded batches in a transaction: visible after commit, never after abort', async () => {
    await log.createTopic('pe-tx-plain', { partitions: 1 });
    await log.createTopic('pe-tx-encoded', { partitions: 1 });
    const records = sample(2500, 300); // two batches
    const aborted = await log.beginTransaction();
    assert.ok(aborted.appendBuffer !== undefined);
    await aborted.appendBuffer('pe-tx-encoded', 0, kafkaBuffer(sample(10)));
    await aborted.append('pe-tx-encoded', 0, sample(2));
    await aborted.appendBuffer('pe-tx-encoded', 0, kafkaBuffer(sample(5)));
    await aborted.abort();

    const plainTx = await log.beginTransaction();
    const plain = await plainTx.append('pe-tx-plain', 0, records);
    await plainTx.commit();

    const tx = await log.beginTransaction();
    const a = await (tx.appendBuffer as NonNullable<typeof tx.appendBuffer>)(
      'pe-tx-encoded',
      0,
      kafkaBuffer(records),
    );
    assert.equal(a.nextOffset - a.baseOffset, records.length);
    // a plain append after it in the same transaction continues the sequence
    const tail = sample(4);
    const t = await tx.append('pe-tx-encoded', 0, tail);
    assert.equal(t.baseOffset, a.nextOffset);
    assert.ok(
      !(await log.waitForData('pe-tx-encoded', 0, a.baseOffset, 200)),
      'nothing visible before the commit',
    );
    await tx.commit();
    assert.ok(await log.waitForData('pe-tx-encoded', 0, a.baseOffset, 10_000));
    const got = await readAll(log, 'pe-tx-encoded', 0, t.nextOffset);
    // the aborted transaction's records and markers are skipped: the first visible is the commit's
    assert.equal(got[0].offset, a.baseOffset);
    assert.equal(got.length, records.length + tail.length);
    const want = shape(
      await readAll(log, 'pe-tx-plain', plain.baseOffset, plain.nextOffset),
      plain.baseOffset,
    );
    assert.deepEqual(shape(got.slice(0, records.length), a.baseOffset), want);
  });

  it('names a record over max.message.bytes (EDDY_RECORD_TOO_LARGE), and the partition goes on', async () => {
    await log.createTopic('pe-big', { partitions: 1 });
    const huge = kafkaBuffer([{ key: b('big'), value: Buffer.alloc(2 << 20) }]);
    await assert.rejects(log.appendBuffer('pe-big', 0, huge), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EDDY_RECORD_TOO_LARGE');
      assert.match(
        err.message,
        /^the record for topic "pe-big" partition 0 is 2097155 bytes \(key, value and headers\): the broker refused its batch as too large \(MESSAGE_TOO_LARGE\)/,
      );
      return true;
    });
    // the refused batch took no sequence: the next ones (pre-encoded and plain) are in order
    assert.deepEqual(await log.appendBuffer('pe-big', 0, kafkaBuffer(sample(30))), {
      baseOffset: 0,
      nextOffset: 30,
    });
    assert.deepEqual(await log.append('pe-big', 0, sample(2)), { baseOffset: 30, nextOffset: 32 });
  });

  it('retries a batch whose response was lost with the same sequence: the broker keeps it once', async () => {
    await log.createTopic('pe-retry', { partitions: 1 });
    // the next Produce request reaches the broker, but its response is replaced by a network error
    // (a response lost on the wire): the client retries, and the broker sees the batch twice
    type Api = (connection: unknown, ...args: unknown[]) => void;
    type GetApi = (name: string, callback: (error: Error | null, api: Api) => void) => void;
    const producer = (log as unknown as { producer: Record<symbol, GetApi> }).producer;
    const getApi = producer[kGetApi].bind(producer);
    let armed = false;
    let lost = 0;
    producer[kGetApi] = (name, callback) =>
      getApi(name, (error, api) => {
        if (error !== null || name !== 'Produce') return callback(error, api);
        callback(null, (connection, ...args) => {
          if (!armed) return api(connection, ...args);
          armed = false;
          lost++;
          const c = connection as { send: (...a: unknown[]) => void };
          const lossy = Object.create(c) as typeof c;
          lossy.send = (...a: unknown[]) => {
            const done = a[a.length - 1] as (e: Error | null, r?: unknown) => void;
            c.send(...a.slice(0, -1), (e: Error | null) =>
              done(e ?? new NetworkError('the test dropped this response'), undefined),
            );
          };
          api(lossy, ...args);
        });
      });
    try {
      await log.append('pe-retry', 0, sample(3)); // a plain append first: the producer is initialised
      const records = sample(40);
      armed = true;
      const r = await log.appendBuffer('pe-retry', 0, kafkaBuffer(records));
      assert.equal(lost, 1, 'one response was lost');
      assert.deepEqual(r, { baseOffset: 3, nextOffset: 43 });
      // and the sequence goes on from the batch's end, once (a plain append then a pre-encoded one)
      assert.deepEqual(await log.append('pe-retry', 0, sample(2)), { baseOffset: 43, nextOffset: 45 });
      assert.deepEqual(await log.appendBuffer('pe-retry', 0, kafkaBuffer(sample(5))), {
        baseOffset: 45,
        nextOffset: 50,
      });
      const got = await readAll(log, 'pe-retry', 0, 50);
      assert.equal(got.length, 50, 'no record twice');
      assert.deepEqual(
        got.slice(3, 43).map((x) => x.key),
        records.map((x) => x.key ?? null),
      );
    } finally {
      producer[kGetApi] = getApi;
    }
  });
});
