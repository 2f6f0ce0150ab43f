/**
 * The memory engine at 1M keys: its resident memory next to the other engines', and its snapshot
 * files — writing one in the background (the longest synchronous slice is the stall the job sees)
 * and loading one on restart (records/s).
 *
 *   eddy bench snapshot [--keys N] [--engines memory,lmdb,rocksdb] [--skip-rss]
 *
 * Keys are 16 bytes, values 100 bytes. RSS is measured in a fresh child process per engine that
 * only fills the engine (`process.memoryUsage().rss` after a GC, minus the child's RSS before the
 * fill: what holding the keys costs), so engines never share a heap.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ENGINE_KINDS, type EngineKind, openEngineAsync } from '../src/store/engines/index.js';
import { SnapshottedMemoryEngine } from '../src/store/engines/snapshotted-memory-engine.js';
import type { StorageEngine, WriteOp } from '../src/store/types.js';

const VALUE = 100;

function keyOf(i: number, out: Buffer): Buffer {
  // 16 bytes: a scrambled counter, so keys arrive in no order
  const x = Math.imul(i, 0x9e3779b1) >>> 0;
  out.writeUInt32BE(x, 0);
  out.writeUInt32BE(i, 4);
  out.writeUInt32BE((x ^ 0x5bd1e995) >>> 0, 8);
  out.writeUInt32BE((i ^ 0x27d4eb2f) >>> 0, 12);
  return out;
}

/** Fills `engine` with `keys` keys in batches of 1,000. */
function fill(engine: StorageEngine, keys: number): void {
  const value = Buffer.alloc(VALUE, 0x61);
  let ops: WriteOp<Uint8Array, Uint8Array>[] = [];
  for (let i = 0; i < keys; i++) {
    ops.push({ key: keyOf(i, Buffer.allocUnsafe(16)), value });
    if (ops.length === 1000) {
      engine.write(ops);
      ops = [];
    }
  }
  if (ops.length > 0) engine.write(ops);
}

const gc = (globalThis as { gc?: () => void }).gc;

/** In a child: fill one engine and print the RSS it added, in bytes. */
async function rssChild(kind: EngineKind, keys: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `eddy-bench-rss-${kind}-`));
  try {
    gc?.();
    const before = process.memoryUsage().rss;
    const engine = await openEngineAsync(kind, { dir, name: kind });
    fill(engine, keys);
    await engine.flush();
    gc?.();
    const after = process.memoryUsage().rss;
    process.stdout.write(`${JSON.stringify({ kind, rss: after, added: after - before })}\n`);
    await engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rssOf(kind: EngineKind, keys: number): { rss: number; added: number } {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', self, '--rss-child', kind, '--keys', String(keys)],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`rss child for ${kind} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string);
}

async function snapshots(keys: number, say: (line: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-snapshot-'));
  try {
    const engine = SnapshottedMemoryEngine.open({ dir, name: 'bench', intervalMs: 0 });
    fill(engine, keys);
    engine.write([], Buffer.from('{"offset":999999,"clean":true}'));
    // the event loop's longest pause while the snapshot runs, seen from a 1 ms timer
    let worst = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 1);
    const stats = await engine.snapshotNow();
    clearInterval(timer);
    if (stats === undefined) throw new Error('the snapshot was not written');
    say(
      `  snapshot write   ${stats.records.toLocaleString('en-US')} records, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB in ${(stats.ms / 1000).toFixed(2)} s; longest slice ${stats.maxSliceMs.toFixed(1)} ms, longest event-loop pause ${worst.toFixed(1)} ms`,
    );
    await engine.inner.close();
    const loads: number[] = [];
    const cpuLoads: number[] = [];
    for (let round = 0; round < 3; round++) {
      gc?.();
      const started = performance.now();
      const cpu = process.cpuUsage();
      const loaded = SnapshottedMemoryEngine.open({ dir, name: 'bench', intervalMs: 0 });
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpu);
      cpuLoads.push((keys / (used.user + used.system)) * 1e6);
      if (!loaded.opened.loaded || loaded.inner.size !== keys) throw new Error('the snapshot did not load');
      loads.push((keys / ms) * 1000);
      await loaded.inner.close();
    }
    loads.sort((a, b) => a - b);
    cpuLoads.sort((a, b) => a - b);
    say(
      `  snapshot load    ${Math.round(loads[1]).toLocaleString('en-US')} records/s (median of 3; ${loads.map((r) => Math.round(r).toLocaleString('en-US')).join(', ')}); ${Math.round(cpuLoads[1]).toLocaleString('en-US')} records per CPU-second (what it costs on a shared machine)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const keys = Number(flag('keys') ?? 1_000_000);
  const child = flag('rss-child');
  if (child !== undefined) {
    await rssChild(child as EngineKind, keys);
  } else {
    const say = (line: string) => process.stdout.write(`${line}\n`);
    say(
      `memory engine snapshots and engine RSS: ${keys.toLocaleString('en-US')} keys of 16 B, values of ${VALUE} B`,
    );
    await snapshots(keys, say);
    if (!process.argv.includes('--skip-rss')) {
      const engines = (flag('engines') ?? ENGINE_KINDS.join(',')).split(',') as EngineKind[];
      for (const kind of engines) {
        const r = rssOf(kind, keys);
        say(
          `  rss ${kind.padEnd(12)} ${Math.round(r.rss / 2 ** 20)} MiB process, ${Math.round(r.added / 2 ** 20)} MiB added by the engine's keys`,
        );
      }
    }
  }
}
