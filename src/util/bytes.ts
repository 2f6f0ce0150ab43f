/** Small helpers over byte arrays shared by the store and the log. */

/** Lexicographic (unsigned byte) comparison: negative, zero or positive. */
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
