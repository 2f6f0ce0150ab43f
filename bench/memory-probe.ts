/**
 * The memory engine's point path alone: random read-modify-writes (`get` then `put` of the value it
 * returned, same length, so in place) over N keys of 16 bytes with 100-byte values, as scenario 3 of
 * the runtime benchmark does per message, without the store layers or the log. Keys are built in one
 * reused buffer, so the loop measures the engine's hash probes and copies, not key objects.
 *
 * Usage: node --import tsx bench/memory-probe.ts [--keys 1000000] [--ops 3000000] [--root DIR]
 * (`--root`: another checkout's engine, for an A/B of two versions run back to back).
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { keys: { type: 'string' }, ops: { type: 'string' }, root: { type: 'string' } },
});
const keys = Number(values.keys ?? 1_000_000);
const ops = Number(values.ops ?? 3_000_000);
const root = values.root ?? new URL('..', import.meta.url).pathname;
const { MemoryEngine } = (await import(
  `${root}/src/store/engines/memory-engine.ts`
)) as typeof import('../src/store/engines/memory-engine.js');

const engine = new MemoryEngine('probe');
const key = Buffer.alloc(16);
const keyOf = (i: number): Buffer => {
  key.writeUInt32BE(Math.imul(i, 2654435761) >>> 0, 0);
  key.writeUInt32BE(i, 4);
  return key;
};
const value = Buffer.alloc(100, 7);
for (let i = 0; i < keys; i++) engine.put(keyOf(i), value);
let x = 12345;
const started = performance.now();
for (let i = 0; i < ops; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  const k = keyOf(x % keys);
  engine.put(k, engine.get(k) as Uint8Array);
}
const seconds = (performance.now() - started) / 1000;
const rss = process.memoryUsage().rss;
console.log(
  `memory engine, ${keys.toLocaleString('en-US')} keys: ${Math.round(ops / seconds).toLocaleString('en-US')} get+put/s (${ops.toLocaleString('en-US')} in ${seconds.toFixed(2)} s), rss ${Math.round(rss / 2 ** 20)} MiB`,
);
await engine.close();
