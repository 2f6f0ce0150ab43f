/**
 * The check and inflation of one Kafka record batch read from a broker: its magic and CRC-32C
 * (over attributes to the end, as Kafka's Java consumer checks by default, `check.crcs`), then its
 * records block, inflated with the Kafka client's codecs when the batch is compressed (gzip,
 * snappy, lz4, zstd); a codec the client lacks (zstd on a Node without `zlib.zstd*`) is a
 * `KafkaError` naming the topic, partition and offset. Apart from `record-batch.ts` because it
 * imports the client, which only the Kafka backend loads.
 */
import { compressionsAlgorithmsByBitmask } from '@platformatic/kafka';
import { crc32c } from '../../util/crc32c.js';
import { CorruptLogError, KafkaError } from '../../util/errors.js';
import { ATTR_COMPRESSION, BATCH_HEADER_SIZE, readInt64 } from './record-batch.js';

/**
 * Checks the batch at `[pos, end)` (magic and CRC) and returns its records' bytes: a view of `buf`,
 * or the inflated block of a compressed batch. `where` names the topic/partition for errors.
 */
export function batchRecords(buf: Buffer, pos: number, end: number, where: string): Buffer {
  const baseOffset = readInt64(buf, pos);
  const magic = buf[pos + 16];
  if (magic !== 2) {
    throw new KafkaError(
      `record batch at offset ${baseOffset} of ${where} has magic ${magic}: only v2 record batches are supported (Kafka 0.11+ formats)`,
    );
  }
  const crc = buf.readUInt32BE(pos + 17);
  const actual = crc32c(buf.subarray(pos + 21, end));
  if (actual !== crc) {
    throw new CorruptLogError(
      `record batch at offset ${baseOffset} of ${where} fails its CRC-32C check (stored ${crc}, computed ${actual}): the fetched data is corrupt; retry the read, and check the broker's disk and network`,
    );
  }
  const body = buf.subarray(pos + BATCH_HEADER_SIZE, end);
  const codec = buf.readInt16BE(pos + 21) & ATTR_COMPRESSION;
  if (codec === 0) return body;
  const algorithm = compressionsAlgorithmsByBitmask[codec];
  if (algorithm === undefined || !algorithm.available) {
    throw new KafkaError(
      `record batch at offset ${baseOffset} of ${where} is compressed with codec ${codec}, which this Node.js cannot decompress (zstd needs Node.js 22.15+); have its producer use gzip, snappy or lz4`,
    );
  }
  try {
    return algorithm.decompressSync(body) as Buffer;
  } catch (err) {
    throw new CorruptLogError(
      `record batch at offset ${baseOffset} of ${where} could not be decompressed: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
