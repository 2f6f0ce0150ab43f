/**
 * The iterators every layer hands out: a base that makes an iterator `Iterable` and `Disposable`
 * (`using` and `break` in `for … of` close it), the bottom `CursorIterator` over an engine cursor,
 * and `MappedIterator`, with which a layer transforms or drops entries of the layer below.
 *
 * Corner cases:
 * - Running an iterator to its end releases its cursor; `next()` keeps answering `done` after.
 * - `close()` is idempotent; `next()` after an explicit `close()` (or after the store was closed)
 *   throws `IteratorClosedError`.
 * - A mapped iterator closes its source; a closed source makes the mapped `next()` throw.
 */
import { IteratorClosedError } from '../util/errors.js';
import type { EngineCursor, Entry, KeyValueIterator } from './types.js';

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** `Symbol.iterator`, `Symbol.dispose` and `return()` over a `next()` and a `close()`. */
export abstract class BaseIterator<K, V> implements KeyValueIterator<K, V> {
  abstract next(): IteratorResult<Entry<K, V>>;
  abstract close(): void;

  [Symbol.iterator](): this {
    return this;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  return(): IteratorResult<Entry<K, V>> {
    this.close();
    return DONE;
  }
}

/** Whoever must close the iterator when it closes the store (the engine store). */
export interface IteratorOwner {
  readonly name: string;
  readonly openIterators: Set<CursorIterator>;
}

const OPEN = 0;
const EXHAUSTED = 1;
const CLOSED = 2;

/** Bytes straight from an engine cursor, registered with its store while open. */
export class CursorIterator extends BaseIterator<Uint8Array, Uint8Array> {
  private state = OPEN;

  constructor(
    private readonly cursor: EngineCursor,
    private readonly owner: IteratorOwner,
  ) {
    super();
    owner.openIterators.add(this);
  }

  next(): IteratorResult<Entry<Uint8Array, Uint8Array>> {
    if (this.state !== OPEN) {
      if (this.state === CLOSED) throw new IteratorClosedError(this.owner.name);
      return DONE;
    }
    const entry = this.cursor.next();
    if (entry === undefined) {
      this.release();
      this.state = EXHAUSTED;
      return DONE;
    }
    return { done: false, value: entry };
  }

  close(): void {
    if (this.state === OPEN) this.release();
    this.state = CLOSED;
  }

  private release(): void {
    this.cursor.close();
    this.owner.openIterators.delete(this);
  }
}

/**
 * Entries of `source` passed through `map` (called with `self` as `this`); entries for which `map`
 * returns undefined are skipped.
 */
export class MappedIterator<A, B, K, V, S> extends BaseIterator<K, V> {
  constructor(
    private readonly source: KeyValueIterator<A, B>,
    private readonly map: (this: S, entry: Entry<A, B>) => Entry<K, V> | undefined,
    private readonly self: S,
  ) {
    super();
  }

  next(): IteratorResult<Entry<K, V>> {
    for (;;) {
      const step = this.source.next();
      if (step.done) return DONE;
      const mapped = this.map.call(this.self, step.value);
      if (mapped !== undefined) return { done: false, value: mapped };
    }
  }

  close(): void {
    this.source.close();
  }
}
