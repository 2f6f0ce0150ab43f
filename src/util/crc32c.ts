/**
 * CRC-32C (Castagnoli), the checksum of Kafka's record batches, computed with the SIMD/SSE4.2
 * implementation of `@node-rs/crc32` (hardware-accelerated, several GB/s).
 *
 * `crc32cCombine` gives the CRC of two byte runs end to end from the CRC of each and the second's
 * length, without their bytes: a task thread checksums the records it encoded, and the log owner,
 * which writes the batch header (base offset, timestamps) in front of them, checksums only the
 * header's 40 bytes and combines (thread-log.ts, record-buffer.ts `seal`).
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `data`, continuing from `initial` (0 to start), as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array, initial = 0): number {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return nativeCrc32c(buf, initial) >>> 0;
}

/** The reflected Castagnoli polynomial. */
const POLY = 0x82f63b78;

/**
 * `a × b` modulo the polynomial, both as reflected 32-bit polynomials (bit 31 is x⁰): the product of
 * the multiplication `a` stands for applied to `b`, one bit of `a` at a time.
 */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** `X2N[k]` = x^(2^k) modulo the polynomial (x¹ is bit 30). */
const X2N = new Uint32Array(32);
X2N[0] = 0x40000000;
for (let k = 1; k < 32; k++) X2N[k] = multModP(X2N[k - 1], X2N[k - 1]);

/** x^(8·bytes) modulo the polynomial: what appending `bytes` zero bytes multiplies a CRC by. */
function shiftFor(bytes: number): number {
  let p = 0x80000000; // x⁰
  let k = 3; // 8 bits a byte: start at x^(2^3)
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++) {
    if (n % 2 === 1) p = multModP(X2N[k & 31], p);
  }
  return p;
}

/**
 * The CRC-32C of `A ‖ B` from `crcA` (of `A`), `crcB` (of `B`, started from 0) and `B`'s length in
 * bytes: O(log length) work, whatever the length.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB === 0) return crcA >>> 0;
  return (multModP(shiftFor(lengthB), crcA) ^ crcB) >>> 0;
}
