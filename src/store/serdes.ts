/**
 * Serdes: how keys and values become bytes. Keys are ordered by their serialized bytes (unsigned,
 * lexicographic), so a key serde decides what `range` and `prefix` mean.
 *
 * | serde            | type             | preserves order?                                         |
 * |------------------|------------------|----------------------------------------------------------|
 * | `string`         | string           | yes: UTF-8 byte order = Unicode code point order (JS `<` |
 * |                  |                  | compares UTF-16 units, which differs only above U+FFFF)  |
 * | `bytes`          | Uint8Array       | yes (the bytes themselves)                               |
 * | `int64`          | bigint (number in) | yes: big-endian two's complement, sign bit flipped     |
 * | `int64Number`    | number (safe int)| yes, same encoding as `int64`                            |
 * | `json<T>()`      | T                | no (text of JSON: "10" < "9", object key order matters)  |
 * | `msgpack`        | unknown          | no                                                       |
 * | user-defined     | anything         | as declared by `preservesOrder` (false when absent)      |
 *
 * An `encode` that throws (wrong type, circular JSON, out of range) or a `decode` that throws is
 * reported by the serde layer as `SerdeError` naming the store and the key.
 */
import { Packr } from 'msgpackr';
import { asBuffer } from '../util/bytes.js';

/** Turns a `T` into bytes and back. Must be deterministic: equal keys must encode to equal bytes. */
export interface Serde<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  /** Whether byte order of encodings equals the natural order of `T` (documentation and checks). */
  readonly preservesOrder?: boolean;
  /** A name for messages. */
  readonly name?: string;
}

const string: Serde<string> = {
  name: 'string',
  preservesOrder: true,
  encode(value: string): Uint8Array {
    if (typeof value !== 'string') throw new TypeError(`expected a string, got ${typeof value}`);
    return Buffer.from(value, 'utf8');
  },
  decode(bytes: Uint8Array): string {
    return asBuffer(bytes).toString('utf8');
  },
};

const bytes: Serde<Uint8Array> = {
  name: 'bytes',
  preservesOrder: true,
  encode(value: Uint8Array): Uint8Array {
    if (!(value instanceof Uint8Array)) throw new TypeError(`expected a Uint8Array, got ${typeof value}`);
    return value;
  },
  decode(data: Uint8Array): Uint8Array {
    return data;
  },
};

function json<T>(): Serde<T> {
  return {
    name: 'json',
    preservesOrder: false,
    encode(value: T): Uint8Array {
      const text = JSON.stringify(value);
      if (text === undefined) throw new TypeError(`${typeof value} cannot be written as JSON`);
      return Buffer.from(text, 'utf8');
    },
    decode(data: Uint8Array): T {
      return JSON.parse(asBuffer(data).toString('utf8')) as T;
    },
  };
}

// One packer, no shared structures (records must decode without state kept elsewhere).
const packr = new Packr({ useRecords: false, moreTypes: false });

const msgpack: Serde<unknown> = {
  name: 'msgpack',
  preservesOrder: false,
  encode(value: unknown): Uint8Array {
    if (value === undefined) throw new TypeError('undefined cannot be written as msgpack');
    // pack() returns a view of a reused buffer; copy so the bytes belong to the store.
    return Buffer.from(packr.pack(value));
  },
  decode(data: Uint8Array): unknown {
    return packr.unpack(asBuffer(data));
  },
};

const SIGN = 1n << 63n;
const MIN = -(1n << 63n);
const MAX = (1n << 63n) - 1n;

function encodeInt64(value: bigint | number): Uint8Array {
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (Number.isSafeInteger(value)) big = BigInt(value);
  else throw new TypeError(`expected a safe integer or a bigint, got ${String(value)}`);
  if (big < MIN || big > MAX) throw new RangeError(`${big} does not fit in 64 signed bits`);
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt.asUintN(64, big) ^ SIGN, 0);
  return out;
}

function decodeInt64(data: Uint8Array): bigint {
  if (data.length !== 8) throw new RangeError(`an int64 is 8 bytes, got ${data.length}`);
  return BigInt.asIntN(64, asBuffer(data).readBigUInt64BE(0) ^ SIGN);
}

/** 64-bit signed integers; encodes bigints and safe-integer numbers, decodes to bigint. */
const int64: Serde<bigint> = {
  name: 'int64',
  preservesOrder: true,
  encode: encodeInt64,
  decode: decodeInt64,
};

/** 64-bit signed integers as JS numbers (safe integers only). */
const int64Number: Serde<number> = {
  name: 'int64Number',
  preservesOrder: true,
  encode: encodeInt64,
  decode(data: Uint8Array): number {
    const big = decodeInt64(data);
    const n = Number(big);
    if (!Number.isSafeInteger(n)) throw new RangeError(`${big} is not a safe integer`);
    return n;
  },
};

/** A user-defined serde (same as writing the object literal; names the intent). */
function custom<T>(serde: Serde<T>): Serde<T> {
  return serde;
}

export const serdes = { string, bytes, json, msgpack, int64, int64Number, custom };

/** True when `x` looks like a serde (for option validation). */
export function isSerde(x: unknown): x is Serde<unknown> {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as Serde<unknown>).encode === 'function' &&
    typeof (x as Serde<unknown>).decode === 'function'
  );
}
