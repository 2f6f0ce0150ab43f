/**
 * Kafka's murmur2 hash and default partitioner, byte for byte.
 *
 * `partitionForKey(key, n)` picks the partition that Kafka's own Java client picks for a keyed
 * record (`Utils.toPositive(Utils.murmur2(key)) % numPartitions`), so a job moved from the
 * embedded log to Kafka keeps every key on the same partition.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's `Utils.murmur2`: a signed 32-bit hash of the bytes. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2] << 16;
  if (rest >= 2) h ^= data[tail + 1] << 8;
  if (rest >= 1) {
    h ^= data[tail];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner chooses for a non-null key. */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  return toPositive(murmur2(key)) % partitions;
}
