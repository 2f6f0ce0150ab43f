/**
 * The latency benchmark: how long a record takes from its append to the input topic until the job's
 * output for it is visible to a reader of the output topic, at a fixed offered load, in both
 * delivery modes, on the embedded log.
 *
 * One process holds the log, a pass-through job (a `Container`: every input is sent to `out`), a
 * producer and a consumer. The producer appends, every millisecond, as many 100-byte records as
 * the offered rate owes by then (so timer jitter does not change the load); each record carries
 * the `performance.now()` of its append. The consumer waits on the output topic (`waitForData`, no
 * polling) and records, for each output, the time since its input's append. The first second is
 * warm-up and not counted. Figures: p50, p99 and max in milliseconds, and the rate achieved.
 *
 * `--store lmdb|memory` makes the job stateful: each record's key is one of `--keys` (1,000,000),
 * and the task reads and writes it in a changelogged store of that engine before its output (what
 * a store's commits cost the event loop shows in p99 and max).
 *
 * Usage: node --import tsx bench/latency.ts [--rates 10000,100000] [--seconds 5]
 *          [--modes at-least-once,exactly-once] [--partitions 4] [--commit-ms N]
 *          [--store lmdb|memory [--keys K]]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openEmbeddedLog } from '../src/log/embedded/embedded-log.js';
import type { AppendRecord, Log } from '../src/log/types.js';
import { Container } from '../src/runtime/container.js';
import { type Codec, defineJob } from '../src/runtime/job.js';
import type { KeyValueStore } from '../src/store/types.js';

export const MODES = ['at-least-once', 'exactly-once'] as const;
export type Mode = (typeof MODES)[number];

export interface LatencyOptions {
  rate: number;
  seconds: number;
  mode: Mode;
  partitions: number;
  /** The job's commit interval; default: the job's own default for the mode. */
  commitMs?: number;
  /** A read-modify-write per record in a changelogged store of this engine (default: none). */
  store?: 'lmdb' | 'memory';
  /** Distinct keys of a stateful run (default 1,000,000). */
  keys?: number;
}

export interface LatencyResult extends LatencyOptions {
  samples: number;
  achieved: number;
  p50: number;
  p99: number;
  max: number;
  commitMsUsed: number;
}

const WARMUP_MS = 1000;

const bytes: Codec<unknown> = { encode: (v) => v as Uint8Array, decode: (b) => b };

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Reads `topic`'s partition `p` from its start until `signal`, calling `onRecord` with each value. */
async function follow(
  log: Log,
  topic: string,
  p: number,
  signal: AbortSignal,
  onValue: (v: Buffer) => void,
): Promise<void> {
  let offset = 0;
  while (!signal.aborted) {
    const records = await log.read(topic, p, offset, { maxRecords: 5000 });
    if (records.length === 0) {
      await log.waitForData(topic, p, offset, 200, signal).catch(() => false);
      continue;
    }
    for (const r of records) onValue(r.value as Buffer);
    offset = records[records.length - 1].offset + 1;
  }
}

export async function measureLatency(o: LatencyOptions): Promise<LatencyResult> {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-latency-'));
  const log = await openEmbeddedLog({ dir: join(dir, 'log'), fsync: 'commit' });
  const stop = new AbortController();
  try {
    await log.createTopic('in', { partitions: o.partitions });
    await log.createTopic('out', { partitions: o.partitions });
    const job = defineJob({
      name: 'latency',
      inputs: [{ topic: 'in', key: bytes, value: bytes }],
      outputs: [{ topic: 'out', key: bytes, value: bytes }],
      exactlyOnce: o.mode === 'exactly-once',
      ...(o.commitMs === undefined ? {} : { commitMs: o.commitMs }),
      stores:
        o.store === undefined
          ? {}
          : { state: { engine: o.store, key: bytes, value: bytes, changelog: true } },
      task: () => {
        let state: KeyValueStore<Buffer, Buffer> | undefined;
        return {
          init(ctx) {
            if (o.store !== undefined) state = ctx.store<Buffer, Buffer>('state');
          },
          process(msg, out) {
            const key = msg.rawKey as Buffer;
            if (state !== undefined) {
              state.get(key);
              state.put(key, msg.rawValue as Buffer);
            }
            out.send({ topic: 'out', key, value: msg.rawValue, partition: msg.partition });
          },
        };
      },
    });
    const container = new Container(job, { log, dataDir: dir });
    await container.start();
    const running = container.run({ signal: stop.signal });

    const capacity = Math.ceil(o.rate * (o.seconds + 2));
    const latencies = new Float64Array(capacity);
    let samples = 0;
    const started = performance.now();
    const measureFrom = started + WARMUP_MS;
    const followers = Array.from({ length: o.partitions }, (_, p) =>
      follow(log, 'out', p, stop.signal, (v) => {
        const sentAt = v.readDoubleLE(0);
        if (sentAt >= measureFrom && samples < capacity) latencies[samples++] = performance.now() - sentAt;
      }),
    );

    // the producer: every ms, what the rate owes by now, spread over the partitions
    const endAt = measureFrom + o.seconds * 1000;
    let sent = 0;
    const keys = o.keys ?? 1_000_000;
    let seed = 0x9e3779b9;
    while (performance.now() < endAt) {
      const now = performance.now();
      const owed = Math.floor(((now - started) * o.rate) / 1000) - sent;
      if (owed > 0) {
        const perPartition: AppendRecord[][] = Array.from({ length: o.partitions }, () => []);
        for (let i = 0; i < owed; i++) {
          const value = Buffer.allocUnsafe(100);
          value.writeDoubleLE(now, 0);
          seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
          const key = Buffer.allocUnsafe(8);
          key.writeUInt32BE(seed % keys, 0);
          key.writeUInt32BE(0x65646479, 4);
          perPartition[(sent + i) % o.partitions].push({ key, value });
        }
        sent += owed;
        await Promise.all(
          perPartition.map((records, p) => (records.length ? log.append('in', p, records) : 0)),
        );
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    const producedInWindow = Math.round((o.rate * o.seconds * 1000) / 1000);
    // let the last outputs arrive (at most two commit intervals)
    const drainUntil = performance.now() + 2 * job.commitMs + 2000;
    while (samples < producedInWindow && performance.now() < drainUntil)
      await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    await running;
    await Promise.all(followers);
    await container.close();
    const sorted = latencies.slice(0, samples).sort();
    return {
      ...o,
      commitMsUsed: job.commitMs,
      samples,
      achieved: samples / o.seconds,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    };
  } finally {
    stop.abort();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rates = (flag('rates') ?? '10000,100000').split(',').map(Number);
  const modes = (flag('modes') ?? MODES.join(',')).split(',') as Mode[];
  for (const m of modes) {
    if (!(MODES as readonly string[]).includes(m)) {
      console.error(`unknown mode "${m}"; one of ${MODES.join(', ')}`);
      process.exit(2);
    }
  }
  const seconds = Number(flag('seconds') ?? 5);
  const partitions = Number(flag('partitions') ?? 4);
  const commitMs = flag('commit-ms') === undefined ? undefined : Number(flag('commit-ms'));
  const store = flag('store');
  if (store !== undefined && store !== 'lmdb' && store !== 'memory') {
    console.error(`--store ${store}: one of lmdb, memory`);
    process.exit(2);
  }
  const keys = Number(flag('keys') ?? 1_000_000);
  const what =
    store === undefined
      ? 'pass-through job'
      : `a get and a put per record in a changelogged ${store} store over ${keys.toLocaleString('en-US')} keys`;
  console.log(
    `latency benchmark: produce -> output visible, ${what}, ${partitions} partitions, embedded log (fsync commit), ${seconds} s per row after 1 s warm-up, one process`,
  );
  for (const mode of modes) {
    for (const rate of rates) {
      const r = await measureLatency({ rate, seconds, mode, partitions, commitMs, store, keys });
      console.log(
        `  ${mode.padEnd(14)} ${`${rate.toLocaleString('en-US')}/s`.padStart(10)} offered, commitMs ${String(r.commitMsUsed).padStart(4)}:  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  max ${r.max.toFixed(1).padStart(7)} ms  (${r.samples.toLocaleString('en-US')} outputs, ${Math.round(r.achieved).toLocaleString('en-US')}/s)`,
      );
    }
  }
}
