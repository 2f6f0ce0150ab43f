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
