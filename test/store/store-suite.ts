/**
 * The `KeyValueStore` conformance suite: every stack (engine alone, + changelog, + serde, + cache,
 * full, + TTL; memory, lmdb, rocksdb) runs it through one small test file:
 * `storeSuite({ name, open, codec, supports })`.
 *
 * The suite speaks strings; `codec` maps them to the stack's key and value types (strings for a
 * serde stack, UTF-8 bytes for a byte layer), so a byte stack and a typed stack run the same tests
 * and the same reference order (UTF-8 bytes). `open(dir)` opens (or reopens) the store kept in
 * `dir`. Optional tests are gated on `supports`, and every skip says why. The randomized model test
 * prints its seed on failure; force one with `EDDY_STORE_SEED=<seed>`.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { KeyValueIterator, KeyValueStore } from '../../src/store/types.js';
import { isEddyError } from '../../src/util/errors.js';
import { prng } from '../helpers/prng.js';
import { makeTempDir } from '../helpers/tmp.js';

export interface Codec<K, V> {
  key(text: string): K;
  value(text: string): V;
  keyText(key: K): string;
  valueText(value: V): string;
}

export const stringCodec: Codec<string, string> = {
  key: (t) => t,
  value: (t) => t,
  keyText: (k) => k,
  valueText: (v) => v,
};

export const bytesCodec: Codec<Uint8Array, Uint8Array> = {
  key: (t) => Buffer.from(t, 'utf8'),
  value: (t) => Buffer.from(t, 'utf8'),
  keyText: (k) => Buffer.from(k).toString('utf8'),
  valueText: (v) => Buffer.from(v).toString('utf8'),
};

export interface StoreSuiteSupports {
  /** Data survives close and reopen of the same directory. */
  readonly persistent: boolean;
  /** The stack has the serde layer, which rejects null/undefined keys and values. */
  readonly validates: boolean;
}

export interface StoreSuiteOptions<K, V> {
  readonly name: string;
  readonly open: (dir: string) => Promise<KeyValueStore<K, V>>;
  readonly codec: Codec<K, V>;
  readonly supports: StoreSuiteSupports;
  /** Operations of the randomized model test (default 3000). */
  readonly modelOps?: number;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export function storeSuite<K, V>(options: StoreSuiteOptions<K, V>): void {
  const { codec, supports } = options;
  const k = codec.key;
  const v = codec.value;

  /** A temp dir removed after the test, once `close` (the stores' closing) has run. */
  function tempDir(t: TestContext, prefix: string, close?: () => Promise<void>): string {
    const { dir, remove } = makeTempDir(prefix);
    t.after(async () => {
      try {
        await close?.();
      } finally {
        remove();
      }
    });
    return dir;
  }

  async function fresh(t: TestContext): Promise<{ store: KeyValueStore<K, V>; dir: string }> {
    let store: KeyValueStore<K, V> | undefined;
    const dir = tempDir(t, 'eddy-store-', () => store?.close() ?? Promise.resolve());
    store = await options.open(dir);
    return { store, dir };
  }

  function texts(iter: KeyValueIterator<K, V>): [string, string][] {
    const out: [string, string][] = [];
    for (const e of iter) out.push([codec.keyText(e.key), codec.valueText(e.value)]);
    return out;
  }

  const keysOf = (iter: KeyValueIterator<K, V>): string[] => texts(iter).map(([key]) => key);

  function load(store: KeyValueStore<K, V>, ...keys: string[]): void {
    store.putAll(keys.map((key) => [k(key), v(`v-${key}`)] as const));
  }

  function getText(store: KeyValueStore<K, V>, key: string): string | undefined {
    const value = store.get(k(key));
    return value === undefined ? undefined : codec.valueText(value);
  }

  describe(`KeyValueStore: ${options.name}`, () => {
    describe('reads and writes', () => {
      it('get returns what put wrote, and undefined for a missing key', async (t) => {
        const { store } = await fresh(t);
        store.put(k('a'), v('1'));
        assert.equal(getText(store, 'a'), '1');
        assert.equal(store.get(k('missing')), undefined);
      });

      it('a put over an existing key replaces its value', async (t) => {
        const { store } = await fresh(t);
        store.put(k('a'), v('1'));
        store.put(k('a'), v('2'));
        assert.equal(getText(store, 'a'), '2');
        assert.deepEqual(texts(store.all()), [['a', '2']]);
      });

      it('delete removes a key, and deleting a missing key is allowed', async (t) => {
        const { store } = await fresh(t);
        store.put(k('a'), v('1'));
        store.delete(k('a'));
        store.delete(k('never'));
        assert.equal(store.get(k('a')), undefined);
        assert.deepEqual(texts(store.all()), []);
      });

      it('putAll, getAll and deleteAll work on many keys at once', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a', 'b', 'c');
        const got = store.getAll([k('a'), k('c'), k('zz')]);
        assert.deepEqual(
          [...got].map(([key, value]) => [codec.keyText(key), codec.valueText(value)]).sort(),
          [
            ['a', 'v-a'],
            ['c', 'v-c'],
          ],
        );
        store.deleteAll([k('a'), k('b')]);
        assert.deepEqual(keysOf(store.all()), ['c']);
      });

      it('the empty value and keys with any bytes round-trip', async (t) => {
        const { store } = await fresh(t);
        store.put(k('é\u0001ü'), v(''));
        assert.equal(getText(store, 'é\u0001ü'), '');
      });

      it('a flush keeps every value readable', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a', 'b');
        await store.flush();
        await store.flush();
        assert.equal(getText(store, 'b'), 'v-b');
      });
    });

    describe('iterators', () => {
      it('range is [from, to) in serialized-key order', async (t) => {
        const { store } = await fresh(t);
        load(store, 'b', 'a', 'ab', 'c', 'ba', 'é', 'Z');
        assert.deepEqual(keysOf(store.range(k('a'), k('b'))), ['a', 'ab']);
        assert.deepEqual(keysOf(store.range(k('ab'), k('ba'))), ['ab', 'b']);
        assert.deepEqual(
          keysOf(store.range(k('c'), k('zzz'))),
          ['c', 'é'].filter((x) => byBytes(x, 'zzz') < 0),
        );
      });

      it('a range with from >= to is empty', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a', 'b', 'c');
        assert.deepEqual(keysOf(store.range(k('b'), k('b'))), []);
        assert.deepEqual(keysOf(store.range(k('c'), k('a'))), []);
      });

      it('prefix returns the keys that start with the prefix, in order', async (t) => {
        const { store } = await fresh(t);
        load(store, 'user:2', 'user:1', 'user', 'users', 'usea', 'uses:1', 'v');
        assert.deepEqual(keysOf(store.prefix(k('user:'))), ['user:1', 'user:2']);
        assert.deepEqual(keysOf(store.prefix(k('user'))), ['user', 'user:1', 'user:2', 'users']);
      });

      it('all returns every entry in key order', async (t) => {
        const { store } = await fresh(t);
        load(store, 'm', 'a', 'z', 'aa');
        assert.deepEqual(texts(store.all()), [
          ['a', 'v-a'],
          ['aa', 'v-aa'],
          ['m', 'v-m'],
          ['z', 'v-z'],
        ]);
      });

      it('iterators see every earlier write, flushed or not', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a', 'b');
        await store.flush();
        store.put(k('c'), v('new'));
        store.delete(k('a'));
        store.put(k('b'), v('changed'));
        assert.deepEqual(texts(store.all()), [
          ['b', 'changed'],
          ['c', 'new'],
        ]);
      });

      it('a snapshot does not see writes made after it was created', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a', 'b', 'c');
        const snap = store.snapshot(k('a'), k('z'));
        store.put(k('b'), v('changed'));
        store.delete(k('c'));
        store.put(k('d'), v('new'));
        await store.flush();
        assert.deepEqual(texts(snap), [
          ['a', 'v-a'],
          ['b', 'v-b'],
          ['c', 'v-c'],
        ]);
      });

      it('an iterator used after close throws EDDY_ITERATOR_CLOSED', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a', 'b');
        const iter = store.all();
        assert.equal(iter.next().done, false);
        iter.close();
        iter.close();
        assert.throws(
          () => iter.next(),
          (e) => isEddyError(e, 'EDDY_ITERATOR_CLOSED'),
        );
      });

      it('dispose and break close an iterator', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a', 'b', 'c');
        const iter = store.all();
        iter[Symbol.dispose]();
        assert.throws(
          () => iter.next(),
          (e) => isEddyError(e, 'EDDY_ITERATOR_CLOSED'),
        );
        const second = store.all();
        for (const _ of second) break;
        assert.throws(
          () => second.next(),
          (e) => isEddyError(e, 'EDDY_ITERATOR_CLOSED'),
        );
      });

      it('an iterator run to its end keeps answering done', async (t) => {
        const { store } = await fresh(t);
        load(store, 'a');
        const iter = store.all();
        assert.equal(keysOf(iter).length, 1);
        assert.equal(iter.next().done, true);
      });
    });

    describe('close', () => {
      it('after close every call throws EDDY_STORE_CLOSED, and close is idempotent', async (t) => {
        let opened: KeyValueStore<K, V> | undefined;
        const dir = tempDir(t, 'eddy-store-', () => opened?.close() ?? Promise.resolve());
        const store = await options.open(dir);
        opened = store;
        load(store, 'a');
        const open = store.all();
        await store.close();
        await store.close();
        assert.equal(store.isOpen, false);
        const closed = (e: unknown) => isEddyError(e, 'EDDY_STORE_CLOSED');
        assert.throws(() => store.get(k('a')), closed);
        assert.throws(() => store.getAll([k('a')]), closed);
        assert.throws(() => store.put(k('a'), v('1')), closed);
        assert.throws(() => store.putAll([[k('a'), v('1')]]), closed);
        assert.throws(() => store.delete(k('a')), closed);
        assert.throws(() => store.deleteAll([k('a')]), closed);
        assert.throws(() => store.range(k('a'), k('b')), closed);
        assert.throws(() => store.prefix(k('a')), closed);
        assert.throws(() => store.all(), closed);
        assert.throws(() => store.snapshot(k('a'), k('b')), closed);
        await assert.rejects(store.flush(), closed);
        assert.throws(
          () => open.next(),
          (e) => isEddyError(e, 'EDDY_ITERATOR_CLOSED'),
        );
      });

      it('data survives close and reopen', {
        skip: supports.persistent ? false : 'the engine keeps nothing across close',
      }, async (t) => {
        let second: KeyValueStore<K, V> | undefined;
        const dir = tempDir(t, 'eddy-store-', () => second?.close() ?? Promise.resolve());
        const first = await options.open(dir);
        load(first, 'a', 'b');
        first.delete(k('a'));
        await first.close();
        second = await options.open(dir);
        assert.deepEqual(texts(second.all()), [['b', 'v-b']]);
      });
    });

    describe('argument checks', () => {
      const skip = supports.validates ? false : 'byte layers below the serde layer take checked bytes';
      const bad = <T>(x: unknown): T => x as T;

      it('a null or undefined key throws EDDY_INVALID_KEY', { skip }, async (t) => {
        const { store } = await fresh(t);
        for (const key of [null, undefined]) {
          const invalid = (e: unknown) => isEddyError(e, 'EDDY_INVALID_KEY');
          assert.throws(() => store.get(bad(key)), invalid);
          assert.throws(() => store.put(bad(key), v('1')), invalid);
          assert.throws(() => store.delete(bad(key)), invalid);
        }
      });

      it('a null or undefined value throws EDDY_INVALID_VALUE', { skip }, async (t) => {
        const { store } = await fresh(t);
        for (const value of [null, undefined]) {
          assert.throws(
            () => store.put(k('a'), bad(value)),
            (e) => isEddyError(e, 'EDDY_INVALID_VALUE') && /delete/.test((e as Error).message),
          );
        }
        assert.equal(store.get(k('a')), undefined);
      });

      it('a batch with one bad entry writes nothing', { skip }, async (t) => {
        const { store } = await fresh(t);
        assert.throws(
          () =>
            store.putAll([
              [k('a'), v('1')],
              [k('b'), bad(null)],
            ]),
          (e) => isEddyError(e, 'EDDY_INVALID_VALUE'),
        );
        assert.throws(
          () => store.deleteAll([k('a'), bad(undefined)]),
          (e) => isEddyError(e, 'EDDY_INVALID_KEY'),
        );
        assert.equal(store.get(k('a')), undefined);
        assert.deepEqual(keysOf(store.all()), []);
      });
    });

    describe('model', () => {
      it('thousands of random operations agree with a sorted reference map', async (t) => {
        const forced = process.env.EDDY_STORE_SEED;
        const seed = forced === undefined ? (Math.random() * 2 ** 32) >>> 0 : Number(forced);
        try {
          await runModel(t, seed);
        } catch (err) {
          t.diagnostic(`seed ${seed}: rerun with EDDY_STORE_SEED=${seed}`);
          console.error(
            `store model test of ${options.name} failed with seed ${seed} (EDDY_STORE_SEED=${seed})`,
          );
          throw err;
        }
      });
    });
  });

  async function runModel(t: TestContext, seed: number): Promise<void> {
    const rand = prng(seed);
    let store: KeyValueStore<K, V> | undefined;
    const dir = tempDir(t, 'eddy-store-model-', () => store?.close() ?? Promise.resolve());
    store = await options.open(dir);
    const model = new Map<string, string>();
    const alphabet = ['a', 'b', 'c', 'é', '\u0000', 'z'];
    const randomKey = (): string => {
      const n = 1 + Math.floor(rand() * 3);
      let out = '';
      for (let i = 0; i < n; i++) out += alphabet[Math.floor(rand() * alphabet.length)];
      return out;
    };
    const sorted = (pred: (key: string) => boolean): [string, string][] =>
      [...model].filter(([key]) => pred(key)).sort(([a], [b]) => byBytes(a, b));
    const ops = options.modelOps ?? 3000;
    for (let i = 0; i < ops; i++) {
      const r = rand();
      const where = `op ${i} (seed ${seed})`;
      if (r < 0.3) {
        const key = randomKey();
        const value = `v${i}`;
        store.put(k(key), v(value));
        model.set(key, value);
      } else if (r < 0.38) {
        const batch: [string, string][] = [];
        for (let j = Math.floor(rand() * 5); j >= 0; j--) batch.push([randomKey(), `b${i}.${j}`]);
        store.putAll(batch.map(([key, value]) => [k(key), v(value)] as const));
        for (const [key, value] of batch) model.set(key, value);
      } else if (r < 0.5) {
        const key = randomKey();
        store.delete(k(key));
        model.delete(key);
      } else if (r < 0.55) {
        const keys = [randomKey(), randomKey(), randomKey()];
        store.deleteAll(keys.map(k));
        for (const key of keys) model.delete(key);
      } else if (r < 0.7) {
        const key = randomKey();
        assert.equal(getText(store, key), model.get(key), `${where}: get ${JSON.stringify(key)}`);
      } else if (r < 0.74) {
        const keys = [randomKey(), randomKey()];
        const got = store.getAll(keys.map(k));
        const want = new Map(keys.filter((key) => model.has(key)).map((key) => [key, model.get(key)]));
        assert.deepEqual(
          new Map([...got].map(([key, value]) => [codec.keyText(key), codec.valueText(value)])),
          want,
          `${where}: getAll`,
        );
      } else if (r < 0.82) {
        const a = randomKey();
        const b = randomKey();
        assert.deepEqual(
          texts(store.range(k(a), k(b))),
          sorted((key) => byBytes(key, a) >= 0 && byBytes(key, b) < 0),
          `${where}: range ${JSON.stringify(a)}..${JSON.stringify(b)}`,
        );
      } else if (r < 0.86) {
        const p = randomKey().slice(0, 1 + Math.floor(rand() * 2));
        assert.deepEqual(
          texts(store.prefix(k(p))),
          sorted((key) => key.startsWith(p)),
          `${where}: prefix`,
        );
      } else if (r < 0.88) {
        assert.deepEqual(
          texts(store.all()),
          sorted(() => true),
          `${where}: all`,
        );
      } else if (r < 0.92) {
        const a = randomKey();
        const b = randomKey();
        const want = sorted((key) => byBytes(key, a) >= 0 && byBytes(key, b) < 0);
        const snap = store.snapshot(k(a), k(b));
        store.put(k(a), v(`after${i}`));
        store.delete(k(b));
        model.set(a, `after${i}`);
        model.delete(b);
        assert.deepEqual(texts(snap), want, `${where}: snapshot`);
      } else if (r < 0.97) {
        await store.flush();
      } else if (supports.persistent && i > ops / 3 && i < (2 * ops) / 3 && rand() < 0.2) {
        await store.close();
        store = await options.open(dir);
      }
    }
    assert.deepEqual(
      texts(store.all()),
      sorted(() => true),
      `end (seed ${seed})`,
    );
  }
}
