/**
 * How to move record batches from the log owner to a task thread (issue 13): a transferred
 * `ArrayBuffer` per batch (what `ThreadLog` does: record-frames.ts, one `postMessage` per read)
 * against a `SharedArrayBuffer` ring (one ring per thread; the owner copies each encoded batch into
 * the ring and signals with `Atomics.notify`, the thread waits with `Atomics.waitAsync`, copies the
 * batch out — the ring slot is reused — and decodes it). Both decode the same way in the thread
 * (records as `Buffer` views of the batch) and touch every key and value; both encode on the main
 * thread with `encodeRecords` (counted in the time).
 *
 * Usage: node --import tsx bench/thread-transfer.ts [--records-per-batch N] [--batches B] [--value-bytes V]
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { LogRecord } from '../src/log/types.js';
import { encodeRecords } from '../src/runtime/threads/record-frames.js';

const { values } = parseArgs({
  options: {
    'records-per-batch': { type: 'string', default: '2000' },
    batches: { type: 'string', default: '2000' },
    'value-bytes': { type: 'string', default: '100' },
  },
});
const PER = Number(values['records-per-batch']);
const BATCHES = Number(values.batches);
const VALUE = Number(values['value-bytes']);

// The thread's side, in plain JavaScript (the same decoding as record-frames.ts decodeRecords).
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
function decode(buffer) {
  const view = new DataView(buffer);
  const n = view.getUint32(0, true);
  let at = 4, bytes = 0;
  for (let i = 0; i < n; i++) {
    const kl = view.getInt32(at + 16, true), vl = view.getInt32(at + 20, true);
    at += 26;
    if (kl >= 0) { bytes += Buffer.from(buffer, at, kl)[0]; at += kl; }
    if (vl >= 0) { bytes += Buffer.from(buffer, at, vl)[0]; at += vl; }
  }
  return n;
}
let records = 0;
if (workerData.mode === 'transfer') {
  parentPort.on('message', (buffer) => {
    records += decode(buffer);
    if (records >= workerData.total) parentPort.postMessage(records);
  });
} else {
  const ring = new Uint8Array(workerData.ring);
  const ctl = new Int32Array(workerData.ctl); // [0] write position, [1] read position (bytes, growing)
  const size = ring.length;
  const keepAlive = setInterval(() => {}, 1000); // a pending Atomics.waitAsync does not keep a thread alive
  const loop = async () => {
    while (records < workerData.total) {
      const w = Atomics.load(ctl, 0), r = Atomics.load(ctl, 1);
      if (w === r) { await Atomics.waitAsync(ctl, 0, w).value; continue; }
      let at = r % size;
      let len = new DataView(ring.buffer, at).getUint32(0, true);
      let skip = 0;
      if (len === 0xffffffff) { skip = size - at; at = 0; len = new DataView(ring.buffer, 0).getUint32(0, true); }
      const copy = ring.slice(at + 4, at + 4 + len).buffer;
      Atomics.store(ctl, 1, r + skip + 4 + ((len + 3) & ~3));
      Atomics.notify(ctl, 1);
      records += decode(copy);
    }
    clearInterval(keepAlive);
    parentPort.postMessage(records);
  };
  loop();
}
`;

/** `Atomics.waitAsync` (Node 16+; not in this project's TypeScript lib). */
const waitAsync = (
  Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { value: unknown } }
).waitAsync;

function batch(seq: number): LogRecord[] {
  const out: LogRecord[] = new Array(PER);
  for (let i = 0; i < PER; i++) {
    const value = Buffer.alloc(VALUE, (seq + i) & 0xff);
    out[i] = { offset: seq * PER + i, timestamp: 1, key: Buffer.from(`key-${i}`), value, headers: {} };
  }
  return out;
}

async function run(mode: 'transfer' | 'ring'): Promise<number> {
  const total = PER * BATCHES;
  const ringBytes = 64 * 1024 * 1024;
  const ring = new SharedArrayBuffer(ringBytes);
  const ctl = new SharedArrayBuffer(8);
  const worker = new Worker(WORKER, { eval: true, workerData: { mode, total, ring, ctl } });
  const done = new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const batches = Array.from({ length: 8 }, (_, i) => batch(i));
  const bytes = new Uint8Array(ring);
  const c = new Int32Array(ctl);
  const started = performance.now();
  for (let b = 0; b < BATCHES; b++) {
    const buffer = encodeRecords(batches[b % batches.length]);
    if (mode === 'transfer') {
      worker.postMessage(buffer, [buffer]);
      // let the thread keep up (as reads do: one in flight per partition)
      if (b % 16 === 15) await new Promise((r) => setImmediate(r));
      continue;
    }
    const len = buffer.byteLength;
    const padded = (len + 3) & ~3; // entries stay 4-byte aligned: a skip marker always fits
    for (;;) {
      const w = Atomics.load(c, 0);
      const r = Atomics.load(c, 1);
      let at = w % ringBytes;
      const skip = at + 4 + padded > ringBytes ? ringBytes - at : 0;
      if (w + skip + 4 + padded - r > ringBytes) {
        await waitAsync(c, 1, r).value;
        continue;
      }
      if (skip > 0) {
        new DataView(ring, at).setUint32(0, 0xffffffff, true);
        at = 0;
      }
      new DataView(ring, at).setUint32(0, len, true);
      bytes.set(new Uint8Array(buffer), at + 4);
      Atomics.store(c, 0, w + skip + 4 + padded);
      Atomics.notify(c, 0);
      break;
    }
  }
  const records = await done;
  const secs = (performance.now() - started) / 1000;
  await worker.terminate();
  return records / secs;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const transfer = await run('transfer');
const ring = await run('ring');
console.log(`batches of ${PER} records of ${VALUE}-byte values, ${BATCHES} batches`);
console.log(`transferred ArrayBuffer per batch: ${fmt(transfer)} records/s`);
console.log(`SharedArrayBuffer ring:            ${fmt(ring)} records/s`);
console.log(`ratio ring/transfer: ${(ring / transfer).toFixed(2)}`);
