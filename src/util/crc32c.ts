/**
 * CRC-32C (Castagnoli), the checksum of Kafka's record batches, computed with the SIMD/SSE4.2
 * implementation of `@node-rs/crc32` (hardware-accelerated, several GB/s).
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `data`, continuing from `initial` (0 to start), as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array, initial = 0): number {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return nativeCrc32c(buf, initial) >>> 0;
}
