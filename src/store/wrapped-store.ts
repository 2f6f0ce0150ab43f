/**
 * The shared base of the byte decorators (changelog, cache, TTL, metrics): every call passes through
 * to the layer below, so a decorator overrides only what it changes. The batch calls `putAll` and
 * `deleteAll` become one `write(ops)` on this layer, so overriding `write` covers every batch.
 *
 * `getAll` is a loop over this layer's `get`, so a decorator that overrides `get` covers it too.
 */
import type { KeyValueIterator, StoreLayer, WriteOp } from './types.js';

/** A layer over bytes: what every layer below the serde layer is. */
export type BytesLayer = StoreLayer<Uint8Array, Uint8Array>;
/** A byte bound: undefined is open. */
export type Bound = Uint8Array | undefined;

/** `getAll` as a loop over `layer.get`: the keys found, with their values. */
export function getAllOf(
  layer: Pick<BytesLayer, 'get'>,
  keys: Iterable<Uint8Array>,
): Map<Uint8Array, Uint8Array> {
  const out = new Map<Uint8Array, Uint8Array>();
  for (const key of keys) {
    const value = layer.get(key);
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

export abstract class WrappedStore implements BytesLayer {
  constructor(protected readonly inner: BytesLayer) {}

  get name(): string {
    return this.inner.name;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(key);
  }

  getAll(keys: Iterable<Uint8Array>): Map<Uint8Array, Uint8Array> {
    return getAllOf(this, keys);
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.inner.put(key, value);
  }

  putAll(entries: Iterable<readonly [Uint8Array, Uint8Array]>): void {
    const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
    for (const [key, value] of entries) ops.push({ key, value });
    this.write(ops);
  }

  delete(key: Uint8Array): void {
    this.inner.delete(key);
  }

  deleteAll(keys: Iterable<Uint8Array>): void {
    const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
    for (const key of keys) ops.push({ key, value: null });
    this.write(ops);
  }

  write(ops: readonly WriteOp<Uint8Array, Uint8Array>[]): void {
    this.inner.write(ops);
  }

  range(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.inner.range(from as Uint8Array, to as Uint8Array);
  }

  prefix(prefix: Uint8Array): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.inner.prefix(prefix);
  }

  all(): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.inner.all();
  }

  snapshot(from: Bound, to: Bound): KeyValueIterator<Uint8Array, Uint8Array> {
    return this.inner.snapshot(from as Uint8Array, to as Uint8Array);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
