/**
 * Helpers over `SpanBatch` (puts and deletes as byte spans of one buffer, see `types.ts`): the ops
 * of a batch for an engine without `writeSpans`, and what a restore counts.
 */
import type { SpanBatch, WriteOp } from './types.js';

/** The ops of `batches` (views of their buffers, no copies), for `StorageEngine.write`. */
export function spanOps(batches: readonly SpanBatch[]): WriteOp<Uint8Array, Uint8Array>[] {
  const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
  for (const { buf, count, keyStart, keyLength, valueStart, valueLength } of batches) {
    for (let i = 0; i < count; i++) {
      const kl = keyLength[i];
      if (kl < 0) continue;
      const key = buf.subarray(keyStart[i], keyStart[i] + kl);
      const vl = valueLength[i];
      ops.push({ key, value: vl < 0 ? null : buf.subarray(valueStart[i], valueStart[i] + vl) });
    }
  }
  return ops;
}

/** The ops of `batch` (those with a key) and their bytes of keys and values. */
export function spanTotals(batch: SpanBatch): { ops: number; bytes: number } {
  const { count, keyLength, valueLength } = batch;
  let ops = 0;
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const kl = keyLength[i];
    if (kl < 0) continue;
    ops++;
    const vl = valueLength[i];
    bytes += vl < 0 ? kl : kl + vl;
  }
  return { ops, bytes };
}

/**
 * `ops` copied into one `SpanBatch` of fresh buffers (for another thread: `spanBuffers` lists what
 * to transfer). Ops keep their order; a delete has value length -1.
 */
export function opsSpans(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): SpanBatch {
  const count = ops.length;
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const { key, value } = ops[i];
    bytes += key.length + (value === null ? 0 : value.length);
  }
  const buf = Buffer.allocUnsafeSlow(bytes);
  const keyStart = new Int32Array(count);
  const keyLength = new Int32Array(count);
  const valueStart = new Int32Array(count);
  const valueLength = new Int32Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const { key, value } = ops[i];
    buf.set(key, at);
    keyStart[i] = at;
    keyLength[i] = key.length;
    at += key.length;
    if (value === null) {
      valueStart[i] = at;
      valueLength[i] = -1;
    } else {
      buf.set(value, at);
      valueStart[i] = at;
      valueLength[i] = value.length;
      at += value.length;
    }
  }
  return { buf, count, keyStart, keyLength, valueStart, valueLength };
}

/** The buffers a batch made by `opsSpans` owns alone, to transfer it to another thread. */
export function spanBuffers(batch: SpanBatch): ArrayBuffer[] {
  const { buf, keyStart, keyLength, valueStart, valueLength } = batch;
  return [buf, keyStart, keyLength, valueStart, valueLength].map((a) => a.buffer as ArrayBuffer);
}
