/**
 * The serde layer: the only layer that knows the user's key and value types. Below it everything
 * is bytes. It checks, encodes, enforces the record size limit, then calls the byte layer below.
 *
 * Corner cases:
 * - `undefined`/`null` key → `InvalidKeyError`; `undefined`/`null` value → `InvalidValueError`
 *   (to remove a key, use `delete`).
 * - An `encode` or `decode` that throws → `SerdeError` naming the store and the key, with the
 *   serde's error as `cause`.
 * - key bytes + value bytes > `maxRecordBytes` → `RecordTooLargeError`; nothing is written.
 * - `putAll`/`deleteAll` check and encode every entry first and hand down one `write(ops)`: an
 *   error anywhere in the batch means nothing of it was written.
 * - `range(from, to)` is `[from, to)` in the order of the encoded keys.
 * - After `close()` every call throws `StoreClosedError` (checked before the arguments).
 */
import { describeBytes } from '../util/bytes.js';
import {
  InvalidKeyError,
  InvalidValueError,
  RecordTooLargeError,
  SerdeError,
  StoreClosedError,
} from '../util/errors.js';
import type { Serde } from './serdes.js';
import { MappedIterator } from './store-iterator.js';
import type { Entry, KeyValueIterator, StoreLayer, WriteOp } from './types.js';
import type { BytesLayer } from './wrapped-store.js';

export interface SerializedStoreOptions<K, V> {
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  /** Largest key + value size in bytes; `Infinity` for no limit. */
  readonly maxRecordBytes: number;
}

function show(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key.length > 60 ? `${key.slice(0, 57)}...` : key);
  if (typeof key === 'bigint') return `${key}n`;
  if (key instanceof Uint8Array) return describeBytes(key);
  try {
    const text = JSON.stringify(key);
    return text === undefined ? String(key) : text.length > 64 ? `${text.slice(0, 61)}...` : text;
  } catch {
    return String(key);
  }
}

export class SerializedStore<K, V> implements StoreLayer<K, V> {
  private readonly keySerde: Serde<K>;
  private readonly valueSerde: Serde<V>;
  private readonly maxRecordBytes: number;

  constructor(
    private readonly inner: BytesLayer,
    options: SerializedStoreOptions<K, V>,
  ) {
    this.keySerde = options.key;
    this.valueSerde = options.value;
    this.maxRecordBytes = options.maxRecordBytes;
  }

  get name(): string {
    return this.inner.name;
  }

  get isOpen(): boolean {
    return !this.closed && this.inner.isOpen;
  }

  // ---- encoding -------------------------------------------------------------------------------

  /** Set by `close()`: every call checks it first (one field read, not the layers' chain of getters). */
  private closed = false;

  private check(): void {
    if (this.closed) throw new StoreClosedError(this.inner.name);
  }

  /** Checks and encodes a key. */
  encodeKey(key: K): Uint8Array {
    if (key === undefined || key === null) {
      throw new InvalidKeyError(`store "${this.inner.name}": a key must not be ${key}`);
    }
    try {
      return this.keySerde.encode(key);
    } catch (err) {
      throw new SerdeError(
        `store "${this.inner.name}": the key serde${this.serdeName(this.keySerde)} cannot encode key ${show(key)}: ${(err as Error)?.message ?? err}`,
        { cause: err },
      );
    }
  }

  private encodeValue(key: K, value: V, keyBytes: Uint8Array): Uint8Array {
    if (value === undefined || value === null) {
      throw new InvalidValueError(
        `store "${this.inner.name}": the value of key ${show(key)} is ${value}; to remove a key, use delete()`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = this.valueSerde.encode(value);
    } catch (err) {
      throw new SerdeError(
        `store "${this.inner.name}": the value serde${this.serdeName(this.valueSerde)} cannot encode the value of key ${show(key)}: ${(err as Error)?.message ?? err}`,
        { cause: err },
      );
    }
    const size = keyBytes.length + bytes.length;
    if (size > this.maxRecordBytes) {
      throw new RecordTooLargeError(
        `store "${this.inner.name}": the record of key ${show(key)} is ${size} bytes (key ${keyBytes.length} + value ${bytes.length}), over maxRecordBytes ${this.maxRecordBytes}; nothing was written`,
      );
    }
    return bytes;
  }

  private decodeKey(bytes: Uint8Array): K {
    try {
      return this.keySerde.decode(bytes);
    } catch (err) {
      throw new SerdeError(
        `store "${this.inner.name}": the key serde${this.serdeName(this.keySerde)} cannot decode key ${describeBytes(bytes)}: ${(err as Error)?.message ?? err}`,
        { cause: err },
      );
    }
  }

  private decodeValue(keyBytes: Uint8Array, bytes: Uint8Array): V {
    try {
      return this.valueSerde.decode(bytes);
    } catch (err) {
      throw new SerdeError(
        `store "${this.inner.name}": the value serde${this.serdeName(this.valueSerde)} cannot decode the value of key ${describeBytes(keyBytes)}: ${(err as Error)?.message ?? err}`,
        { cause: err },
      );
    }
  }

  private serdeName(serde: Serde<unknown>): string {
    return serde.name === undefined ? '' : ` (${serde.name})`;
  }

  private decodeEntry(entry: Entry<Uint8Array, Uint8Array>): Entry<K, V> {
    return { key: this.decodeKey(entry.key), value: this.decodeValue(entry.key, entry.value) };
  }

  private decodeIterator(source: KeyValueIterator<Uint8Array, Uint8Array>): KeyValueIterator<K, V> {
    return new MappedIterator(source, this.decodeEntry, this);
  }

  // ---- reads ----------------------------------------------------------------------------------

  get(key: K): V | undefined {
    this.check();
    const keyBytes = this.encodeKey(key);
    const bytes = this.inner.get(keyBytes);
    return bytes === undefined ? undefined : this.decodeValue(keyBytes, bytes);
  }

  getAll(keys: Iterable<K>): Map<K, V> {
    this.check();
    const out = new Map<K, V>();
    for (const key of keys) {
      const keyBytes = this.encodeKey(key);
      const bytes = this.inner.get(keyBytes);
      if (bytes !== undefined) out.set(key, this.decodeValue(keyBytes, bytes));
    }
    return out;
  }

  range(from: K, to: K): KeyValueIterator<K, V> {
    this.check();
    return this.decodeIterator(this.inner.range(this.encodeKey(from), this.encodeKey(to)));
  }

  prefix(prefix: K): KeyValueIterator<K, V> {
    this.check();
    return this.decodeIterator(this.inner.prefix(this.encodeKey(prefix)));
  }

  all(): KeyValueIterator<K, V> {
    this.check();
    return this.decodeIterator(this.inner.all());
  }

  snapshot(from: K, to: K): KeyValueIterator<K, V> {
    this.check();
    return this.decodeIterator(this.inner.snapshot(this.encodeKey(from), this.encodeKey(to)));
  }

  // ---- writes ---------------------------------------------------------------------------------

  put(key: K, value: V): void {
    this.check();
    const keyBytes = this.encodeKey(key);
    this.inner.put(keyBytes, this.encodeValue(key, value, keyBytes));
  }

  putAll(entries: Iterable<readonly [K, V]>): void {
    this.check();
    const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
    for (const [key, value] of entries) {
      const keyBytes = this.encodeKey(key);
      ops.push({ key: keyBytes, value: this.encodeValue(key, value, keyBytes) });
    }
    if (ops.length > 0) this.inner.write(ops);
  }

  delete(key: K): void {
    this.check();
    this.inner.delete(this.encodeKey(key));
  }

  deleteAll(keys: Iterable<K>): void {
    this.check();
    const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
    for (const key of keys) ops.push({ key: this.encodeKey(key), value: null });
    if (ops.length > 0) this.inner.write(ops);
  }

  write(ops: readonly WriteOp<K, V>[]): void {
    this.check();
    const encoded: WriteOp<Uint8Array, Uint8Array>[] = new Array(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const keyBytes = this.encodeKey(op.key);
      encoded[i] = {
        key: keyBytes,
        value: op.value === null ? null : this.encodeValue(op.key, op.value, keyBytes),
      };
    }
    if (encoded.length > 0) this.inner.write(encoded);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    this.closed = true;
    return this.inner.close();
  }
}
