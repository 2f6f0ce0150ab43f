/**
 * `TopicConfig.maxRecordBytes` (record-size.ts): the same rule on the embedded and the memory log,
 * on every append path — plain appends, transactions, the producer — with `EDDY_RECORD_TOO_LARGE`
 * naming topic, partition, size and limit, and nothing of the append written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openEmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { MemoryLog } from '../../src/log/memory/memory-log.js';
import { Producer } from '../../src/log/producer.js';
import type { Log } from '../../src/log/types.js';
import { tempDir } from '../helpers/tmp.js';

const backends: { name: string; open: (t: { after(fn: () => void): void }) => Promise<Log> }[] = [
  { name: 'embedded', open: (t) => openEmbeddedLog({ dir: tempDir(t) }) },
  { name: 'memory', open: async () => new MemoryLog() },
];

const tooLarge =
  (topic: string, partition: number, size: number, limit: number) => (err: Error & { code?: string }) => {
    assert.equal(err.code, 'EDDY_RECORD_TOO_LARGE');
    assert.ok(err.message.includes(`topic "${topic}" partition ${partition} is ${size} bytes`), err.message);
    assert.ok(err.message.includes(`maxRecordBytes of ${limit}`), err.message);
    return true;
  };

for (const backend of backends) {
  describe(`maxRecordBytes on the ${backend.name} log`, () => {
    it('defaults to 1 MiB, like Kafka: a 1 MiB value passes, one byte more fails and writes nothing', async (t) => {
      const log = await backend.open(t);
      try {
        const info = await log.createTopic('t', { partitions: 1 });
        assert.equal(info.config.maxRecordBytes, 1024 * 1024);
        await log.append('t', 0, [{ key: null, value: Buffer.alloc(1024 * 1024) }]);
        await assert.rejects(
          log.append('t', 0, [
            { key: null, value: Buffer.from('small') },
            { key: Buffer.from('k'), value: Buffer.alloc(1024 * 1024) },
          ]),
          tooLarge('t', 0, 1024 * 1024 + 1, 1024 * 1024),
        );
        assert.equal(await log.endOffset('t', 0), 1, 'nothing of the failed append was written');
      } finally {
        await log.close();
      }
    });

    it('counts key, value and headers, and holds in transactions and through the producer', async (t) => {
      const log = await backend.open(t);
      try {
        await log.createTopic('small', { partitions: 2, maxRecordBytes: 100 });
        const headers = { trace: Buffer.alloc(40) }; // 5 + 40 header bytes
        await log.append('small', 1, [{ key: Buffer.alloc(5), value: Buffer.alloc(50), headers }]); // 100: fits
        await assert.rejects(
          log.append('small', 1, [{ key: Buffer.alloc(6), value: Buffer.alloc(50), headers }]),
          tooLarge('small', 1, 101, 100),
        );
        const tx = await log.beginTransaction!();
        await assert.rejects(
          tx.append('small', 0, [{ key: null, value: Buffer.alloc(101) }]),
          tooLarge('small', 0, 101, 100),
        );
        await tx.abort();
        const producer = new Producer(log);
        producer.send('small', { key: null, value: Buffer.alloc(200), partition: 0 });
        await assert.rejects(producer.flush(), tooLarge('small', 0, 200, 100));
        assert.equal(await log.endOffset('small', 0), 0);
        assert.equal(await log.endOffset('small', 1), 1);
      } finally {
        await log.close();
      }
    });

    it('rejects a bad maxRecordBytes with EDDY_INVALID_CONFIG', async (t) => {
      const log = await backend.open(t);
      try {
        await assert.rejects(
          log.createTopic('bad', { partitions: 1, maxRecordBytes: 0 }),
          /maxRecordBytes: must be an integer from 1/,
        );
      } finally {
        await log.close();
      }
    });
  });
}
