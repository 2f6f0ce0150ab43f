/** Small helpers over byte arrays shared by the store and the log. */

/** Lexicographic (unsigned byte) comparison: negative, zero or positive. */
/** True when `a` and `b` hold the same bytes (a plain loop: keys are short, no view or call into C++). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * `data` as a string of one UTF-16 unit per byte (latin1): an exact, cheap Map key for bytes, and
 * such strings compare with `<` in unsigned byte order.
 */
export function latin1Id(data: Uint8Array): string {
  return asBuffer(data).toString('latin1');
}

/** A Buffer view of `data` without copying. */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The smallest byte string greater than every string that starts with `prefix`, or undefined when
 * there is none (the prefix is empty or all 0xff): the exclusive upper bound of a prefix scan.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1]++;
  return out;
}

/** A printable form of a key for error messages: UTF-8 when it is text, hex otherwise, cut at 64. */
export function describeBytes(data: Uint8Array): string {
  const buf = asBuffer(data);
  const text = buf.toString('utf8');
  const printable = /^[\x20-\x7e]*$/.test(text);
  const shown = printable ? JSON.stringify(text) : `0x${buf.toString('hex')}`;
  return shown.length > 64 ? `${shown.slice(0, 61)}...` : shown;
}

/** FNV-1a over `n` bytes of `b` from `at`, finished with murmur3's avalanche. */
export function hashBytes(b: Uint8Array, at: number, n: number): number {
  let h = 0x811c9dc5 ^ n;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[at + i], 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
