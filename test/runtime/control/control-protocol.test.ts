import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeRecords,
  encodeFrame,
  encodeRecords,
  FrameReader,
  type RoutedRecord,
} from '../../../src/runtime/control/control-protocol.js';

describe('the control socket protocol', () => {
  it('round-trips records: null keys, tombstones, headers, timestamps, empty values', () => {
    const records: RoutedRecord[] = [
      { partition: 0, key: Buffer.from('a'), value: Buffer.from('{"x":1}') },
      { partition: 3, key: null, value: null },
      { partition: 1, key: Buffer.alloc(0), value: Buffer.alloc(0), timestamp: 1_700_000_000_123 },
      {
        partition: 2,
        key: Buffer.from([0, 255, 7]),
        value: Buffer.from('v'),
        headers: { trace: Buffer.from('t-1'), ünïcode: Buffer.alloc(0) },
      },
    ];
    assert.deepEqual(decodeRecords(encodeRecords(records)), records);
    assert.deepEqual(decodeRecords(encodeRecords([])), []);
  });

  it('refuses a payload cut short', () => {
    const data = encodeRecords([{ partition: 0, key: Buffer.from('key'), value: Buffer.from('value') }]);
    for (const cut of [1, 5, 9, data.length - 1]) {
      assert.throws(() => decodeRecords(data.subarray(0, cut)), { code: 'EDDY_CONTROL' });
    }
  });

  it('cuts a byte stream into frames however it is chunked', () => {
    const frames = [
      encodeFrame({ op: 'a', n: 1 }),
      encodeFrame({ op: 'b' }, Buffer.from('payload bytes')),
      encodeFrame({ op: 'c', text: 'ü'.repeat(1000) }, Buffer.alloc(70_000, 7)),
    ];
    const stream = Buffer.concat(frames);
    for (const size of [1, 7, 4096, stream.length]) {
      const reader = new FrameReader();
      const got = [];
      for (let at = 0; at < stream.length; at += size)
        got.push(...reader.push(stream.subarray(at, at + size)));
      assert.deepEqual(
        got.map((f) => f.header.op),
        ['a', 'b', 'c'],
        `chunks of ${size}`,
      );
      assert.equal(got[1].payload.toString(), 'payload bytes');
      assert.equal(got[2].payload.length, 70_000);
      assert.equal(got[2].header.text, 'ü'.repeat(1000));
    }
  });

  it('refuses a header that is not a JSON object', () => {
    const bad = Buffer.concat([Buffer.from([0, 0, 0, 2, 0, 0, 0, 0]), Buffer.from('[]')]);
    assert.throws(() => new FrameReader().push(bad), { code: 'EDDY_CONTROL' });
    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from('{')]);
    assert.throws(() => new FrameReader().push(notJson), { code: 'EDDY_CONTROL', message: /not JSON/ });
  });
});
