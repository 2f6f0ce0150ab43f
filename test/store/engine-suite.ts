/**
 * The storage engine conformance suite: every engine runs it through a one-line test file,
 * `engineSuite({ name, open, supports })`.
 *
 * `open(dir)` opens (or reopens) the engine kept in `dir`; each test gets a fresh temp dir, removed
 * after the engine is closed. `supports` declares what the engine can do; optional tests are gated
 * on it, never on the engine's name, and a skipped test says why. The randomized model test prints
 * its seed on failure; rerun it with `EDDY_TEST_SEED=<seed>`.
 */
import assert from 'node:assert/strict';
import { describe, it as nodeIt, type TestContext } from 'node:test';
import type { EngineCursor, EngineEntry, SpanBatch, StorageEngine, WriteOp } from '../../src/store/types.js';
import { compareBytes, prefixEnd } from '../../src/util/bytes.js';
import { isEddyError } from '../../src/util/errors.js';
import { prng } from '../helpers/prng.js';
import { makeTempDir } from '../helpers/tmp.js';

export interface EngineSuiteSupports {
  /** Data and meta survive close and reopen of the same directory. */
  readonly persistent: boolean;
  /** The empty byte string is a valid key (LMDB refuses it with InvalidKeyError). */
  readonly emptyKey: boolean;
  /** The largest key in bytes, when the engine has one (longer keys throw InvalidKeyError). */
  readonly maxKeySize?: number;
}

export interface EngineSuiteOptions {
  readonly name: string;
  readonly open: (dir: string) => StorageEngine | Promise<StorageEngine>;
  readonly supports: EngineSuiteSupports;
  /** Tests skipped by exact name, each group with its reason (a known gap, naming its fix). */
  readonly skip?: readonly { readonly reason: string; readonly tests: readonly string[] }[];
}

type TestFn = (t: TestContext) => Promise<void>;

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
const s = (text: string): Buffer => Buffer.from(text);
const put = (key: Uint8Array, value: Uint8Array): WriteOp<Uint8Array, Uint8Array> => ({ key, value });
const del = (key: Uint8Array): WriteOp<Uint8Array, Uint8Array> => ({ key, value: null });
const hex = (data: Uint8Array | undefined): string | undefined =>
  data === undefined ? undefined : Buffer.from(data).toString('hex');

/** Drains a cursor into [keyHex, valueHex] pairs and closes it. */
function drain(cursor: EngineCursor): [string, string][] {
  const out: [string, string][] = [];
  try {
    for (let e: EngineEntry | undefined = cursor.next(); e !== undefined; e = cursor.next()) {
      out.push([Buffer.from(e.key).toString('hex'), Buffer.from(e.value).toString('hex')]);
    }
  } finally {
    cursor.close();
  }
  return out;
}

const keysOf = (cursor: EngineCursor): string[] => drain(cursor).map(([k]) => k);

export function engineSuite(options: EngineSuiteOptions): void {
  const { supports } = options;
  const skipped = new Map<string, string>();
  for (const group of options.skip ?? []) for (const name of group.tests) skipped.set(name, group.reason);
  /** node:test's `it`, with the suite's `skip` list applied by test name. */
  const it = (name: string, gateOrFn: { skip: string | false } | TestFn, fn?: TestFn): void => {
    const body = typeof gateOrFn === 'function' ? gateOrFn : (fn as TestFn);
    const gate = typeof gateOrFn === 'function' ? false : gateOrFn.skip;
    seen.add(name);
    nodeIt(name, { skip: skipped.get(name) ?? gate }, body);
  };
  const seen = new Set<string>();
  const notPersistent = supports.persistent
    ? false
    : 'the engine keeps nothing across close (supports.persistent)';

  /** A fresh engine in a fresh temp dir; closed and removed when the test ends. */
  async function fresh(
    t: TestContext,
  ): Promise<{ engine: StorageEngine; dir: string; reopen(): Promise<StorageEngine> }> {
    const tmp = makeTempDir('eddy-engine-');
    const state = { engine: await options.open(tmp.dir) };
    t.after(async () => {
      await state.engine.close();
      tmp.remove();
    });
    return {
      get engine() {
        return state.engine;
      },
      dir: tmp.dir,
      async reopen() {
        await state.engine.close();
        state.engine = await options.open(tmp.dir);
        return state.engine;
      },
    };
  }

  describe(`${options.name} storage engine`, () => {
    describe('get, put and delete through write', () => {
      it('get returns undefined for a key that was never written', async (t) => {
        const { engine } = await fresh(t);
        assert.equal(engine.get(s('missing')), undefined);
      });

      it('a put is visible to get as soon as write returns', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('k'), s('v'))]);
        assert.equal(hex(engine.get(s('k'))), hex(s('v')));
      });

      it('a put over an existing key replaces its value', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('k'), s('one'))]);
        engine.write([put(s('k'), s('two'))]);
        assert.equal(hex(engine.get(s('k'))), hex(s('two')));
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), [hex(s('k'))]);
      });

      it('a delete removes the key, and deleting a missing key is allowed', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('k'), s('v'))]);
        engine.write([del(s('k')), del(s('never'))]);
        assert.equal(engine.get(s('k')), undefined);
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), []);
      });

      it('an empty value is stored and read back as empty, not as missing', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('k'), new Uint8Array(0))]);
        const value = engine.get(s('k'));
        assert.ok(value !== undefined, 'an empty value must not read as missing');
        assert.equal(value.length, 0);
      });

      it('binary keys and values with every byte value round-trip exactly', async (t) => {
        const { engine } = await fresh(t);
        const all = Buffer.alloc(256);
        for (let i = 0; i < 256; i++) all[i] = i;
        engine.write([put(all, all), put(b(0), b(0xff)), put(b(0xff), b(0))]);
        assert.equal(hex(engine.get(all)), hex(all));
        assert.equal(hex(engine.get(b(0))), 'ff');
        assert.equal(hex(engine.get(b(0xff))), '00');
      });

      it('a plain Uint8Array (not a Buffer) works as key and value', async (t) => {
        const { engine } = await fresh(t);
        const key = new Uint8Array([1, 2, 3]);
        engine.write([put(key, new Uint8Array([9, 8]))]);
        assert.equal(hex(engine.get(new Uint8Array([1, 2, 3]))), '0908');
      });

      it('a returned value stays intact through later gets, small and large', async (t) => {
        const { engine } = await fresh(t);
        const big = Buffer.alloc(300_000, 0x62);
        engine.write([put(s('a'), s('first')), put(s('b'), s('second')), put(s('big'), big)]);
        const a = engine.get(s('a'));
        const gotBig = engine.get(s('big'));
        assert.equal(hex(engine.get(s('b'))), hex(s('second')));
        assert.equal(engine.get(s('missing')), undefined);
        assert.equal(hex(a), hex(s('first')), 'a later get must not change a returned buffer');
        assert.ok(
          gotBig !== undefined && Buffer.from(gotBig).equals(big),
          'a large value survives later gets',
        );
      });

      it('returned byte arrays belong to the caller, and written ones are copied', async (t) => {
        const { engine } = await fresh(t);
        const key = s('key');
        const value = s('value');
        engine.write([put(key, value)]);
        value.fill(0);
        const got = engine.get(s('key'));
        assert.equal(hex(got), hex(s('value')));
        got?.fill(0);
        const got2 = engine.get(s('key'));
        assert.equal(hex(got2), hex(s('value')));
        engine.write([put(s('other'), s('x'))]);
        assert.equal(hex(got2), hex(s('value')), 'a later write must not change a returned buffer');
        const entries: EngineEntry[] = [];
        const cursor = engine.range(undefined, undefined);
        for (let e = cursor.next(); e !== undefined; e = cursor.next()) entries.push(e);
        cursor.close();
        assert.deepEqual(
          entries.map((e) => [hex(e.key), hex(e.value)]),
          [
            [hex(s('key')), hex(s('value'))],
            [hex(s('other')), hex(s('x'))],
          ],
          'entries kept after the cursor moved on must stay intact',
        );
      });

      it('an empty key round-trips when the engine supports it', {
        skip: !supports.emptyKey && 'the engine refuses empty keys (supports.emptyKey)',
      }, async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(new Uint8Array(0), s('v')), put(b(0), s('w'))]);
        assert.equal(hex(engine.get(new Uint8Array(0))), hex(s('v')));
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), ['', '00']);
        assert.deepEqual(keysOf(engine.range(new Uint8Array(0), b(0))), ['']);
      });

      it('an empty key is refused with InvalidKeyError and nothing of the batch is written', {
        skip: supports.emptyKey && 'the engine stores empty keys (supports.emptyKey)',
      }, async (t) => {
        const { engine } = await fresh(t);
        assert.throws(
          () => engine.write([put(s('a'), s('1')), put(new Uint8Array(0), s('v'))], s('meta')),
          (err) => isEddyError(err, 'EDDY_INVALID_KEY'),
        );
        assert.equal(engine.get(s('a')), undefined);
        assert.equal(engine.readMeta(), undefined);
        assert.equal(engine.get(new Uint8Array(0)), undefined);
      });

      it('a key over the maximum size is refused with InvalidKeyError', {
        skip: supports.maxKeySize === undefined && 'the engine has no key size limit (supports.maxKeySize)',
      }, async (t) => {
        const { engine } = await fresh(t);
        const max = supports.maxKeySize ?? 0;
        engine.write([put(Buffer.alloc(max, 7), s('ok'))]);
        assert.equal(hex(engine.get(Buffer.alloc(max, 7))), hex(s('ok')));
        assert.throws(
          () => engine.write([put(Buffer.alloc(max + 1, 7), s('v'))]),
          (err) => isEddyError(err, 'EDDY_INVALID_KEY'),
        );
      });
    });

    describe('batches', () => {
      it('ops of one batch apply in order: a put then a delete of the same key leaves it absent', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('k'), s('v')), del(s('k'))]);
        assert.equal(engine.get(s('k')), undefined);
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), []);
      });

      it('a delete then a put of the same key in one batch leaves the put', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('k'), s('old'))]);
        engine.write([del(s('k')), put(s('k'), s('new'))]);
        assert.equal(hex(engine.get(s('k'))), hex(s('new')));
      });

      it('the last of several puts of one key in a batch wins', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('k'), s('1')), put(s('k'), s('2')), put(s('k'), s('3'))]);
        assert.equal(hex(engine.get(s('k'))), hex(s('3')));
      });

      it('an empty batch writes nothing and is allowed', async (t) => {
        const { engine } = await fresh(t);
        engine.write([]);
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), []);
        assert.equal(engine.readMeta(), undefined);
      });

      it('a batch of ten thousand ops is written whole', async (t) => {
        const { engine } = await fresh(t);
        const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
        for (let i = 0; i < 10_000; i++) {
          const key = Buffer.alloc(4);
          key.writeUInt32BE(i);
          ops.push(put(key, key));
        }
        engine.write(ops);
        assert.equal(keysOf(engine.range(undefined, undefined)).length, 10_000);
      });

      it('a large batch of random ops, repeated keys among them, ends as if applied one by one', async (t) => {
        // Engines may reorder a large batch (lmdb writes it in key order); ops on one key keep theirs.
        const { engine } = await fresh(t);
        const rand = prng(4242);
        const model = new Map<string, Uint8Array>();
        for (let round = 0; round < 3; round++) {
          const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
          for (let i = 0; i < 5000; i++) {
            // 1 to 6 bytes from a small alphabet: short keys, shared prefixes, many repeats
            const key = Buffer.alloc(1 + Math.floor(rand() * 6));
            for (let j = 0; j < key.length; j++) key[j] = 0x61 + Math.floor(rand() * 4);
            const value = rand() < 0.3 ? null : Buffer.from(`r${round}-${i}`);
            ops.push(value === null ? del(key) : put(key, value));
            if (value === null) model.delete(key.toString('latin1'));
            else model.set(key.toString('latin1'), value);
          }
          engine.write(ops);
        }
        const expected = [...model.keys()].sort().map((k) => Buffer.from(k, 'latin1').toString('hex'));
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), expected);
        for (const [key, value] of model)
          assert.equal(hex(engine.get(Buffer.from(key, 'latin1'))), hex(value));
      });
    });

    describe('ranges', () => {
      const keys = [
        b(0xff, 0xff),
        b(0x00),
        b(0x80),
        b(0x01),
        b(0xff),
        b(0x00, 0x00),
        b(0x7f, 0xff),
        b(0xff, 0x00),
        b(0x00, 0xff),
        s('a'),
        s('ab'),
        s('b'),
      ];
      const sorted = [...keys].sort(compareBytes).map((k) => k.toString('hex'));
      const load = (engine: StorageEngine): void => engine.write(keys.map((k) => put(k, k)));
      const expectIn = (from: Buffer | undefined, to: Buffer | undefined): string[] =>
        sorted.filter(
          (k) =>
            (from === undefined || compareBytes(Buffer.from(k, 'hex'), from) >= 0) &&
            (to === undefined || compareBytes(Buffer.from(k, 'hex'), to) < 0),
        );

      it('an unbounded range lists every key in unsigned byte order, 0x00 and 0xff keys included', async (t) => {
        const { engine } = await fresh(t);
        load(engine);
        const entries = drain(engine.range(undefined, undefined));
        assert.deepEqual(
          entries.map(([k]) => k),
          sorted,
        );
        for (const [k, v] of entries) assert.equal(v, k, 'each entry carries its own value');
      });

      it('a range is half-open: from is included, to is excluded', async (t) => {
        const { engine } = await fresh(t);
        load(engine);
        assert.deepEqual(keysOf(engine.range(b(0x01), b(0xff))), expectIn(b(0x01), b(0xff)));
        assert.deepEqual(keysOf(engine.range(b(0x00), b(0x00, 0x00))), ['00']);
        assert.deepEqual(keysOf(engine.range(s('a'), s('b'))), [hex(s('a')), hex(s('ab'))]);
      });

      it('bounds between keys select the keys between them', async (t) => {
        const { engine } = await fresh(t);
        load(engine);
        assert.deepEqual(keysOf(engine.range(b(0x00, 0x01), b(0x7f))), expectIn(b(0x00, 0x01), b(0x7f)));
        assert.deepEqual(keysOf(engine.range(b(0xfe), b(0xff, 0x00, 0x00))), ['ff', 'ff00']);
      });

      it('an undefined bound is open on its side', async (t) => {
        const { engine } = await fresh(t);
        load(engine);
        assert.deepEqual(keysOf(engine.range(undefined, b(0x01))), expectIn(undefined, b(0x01)));
        assert.deepEqual(keysOf(engine.range(b(0xff), undefined)), ['ff', 'ff00', 'ffff']);
        assert.deepEqual(keysOf(engine.snapshot(undefined, b(0x01))), expectIn(undefined, b(0x01)));
        assert.deepEqual(keysOf(engine.snapshot(b(0xff), undefined)), ['ff', 'ff00', 'ffff']);
      });

      it('from equal to or above to yields nothing', async (t) => {
        const { engine } = await fresh(t);
        load(engine);
        assert.deepEqual(keysOf(engine.range(s('a'), s('a'))), []);
        assert.deepEqual(keysOf(engine.range(b(0xff), b(0x00))), []);
        assert.deepEqual(keysOf(engine.snapshot(b(0xff), b(0x01))), []);
      });

      it('an empty from bound starts at the first key and an empty to bound yields nothing', async (t) => {
        const { engine } = await fresh(t);
        load(engine);
        assert.deepEqual(keysOf(engine.range(new Uint8Array(0), undefined)), sorted);
        assert.deepEqual(keysOf(engine.range(undefined, new Uint8Array(0))), []);
      });

      it('prefix bounds made with prefixEnd cover 0xff prefixes and the empty prefix', async (t) => {
        const { engine } = await fresh(t);
        load(engine);
        const prefix = (p: Buffer): string[] =>
          keysOf(engine.range(p.length === 0 ? undefined : p, prefixEnd(p)));
        assert.deepEqual(prefix(b(0xff)), ['ff', 'ff00', 'ffff']);
        assert.deepEqual(prefix(b(0xff, 0xff)), ['ffff']);
        assert.deepEqual(prefix(b(0x00)), ['00', '0000', '00ff']);
        assert.deepEqual(prefix(s('a')), [hex(s('a')), hex(s('ab'))]);
        assert.deepEqual(prefix(Buffer.alloc(0)), sorted);
        assert.deepEqual(prefix(s('zz')), []);
      });

      it('a range sees every write made before it was created', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1')), put(s('b'), s('2'))]);
        const first = engine.range(undefined, undefined);
        first.close();
        engine.write([put(s('c'), s('3')), del(s('a'))]);
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), [hex(s('b')), hex(s('c'))]);
      });

      it('a range on an empty engine ends at once, and next keeps returning undefined', async (t) => {
        const { engine } = await fresh(t);
        const cursor = engine.range(undefined, undefined);
        assert.equal(cursor.next(), undefined);
        assert.equal(cursor.next(), undefined);
        cursor.close();
      });
    });

    describe('snapshots and cursors', () => {
      it('a snapshot does not see puts, deletes or a clear made after it was created', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1')), put(s('b'), s('2')), put(s('c'), s('3'))]);
        const snap = engine.snapshot(undefined, undefined);
        const first = snap.next();
        assert.equal(hex(first?.key), hex(s('a')));
        engine.write([put(s('a2'), s('new')), del(s('b')), put(s('c'), s('changed')), put(s('d'), s('4'))]);
        const rest = drain(snap);
        assert.deepEqual(rest, [
          [hex(s('b')), hex(s('2'))],
          [hex(s('c')), hex(s('3'))],
        ]);
        const snap2 = engine.snapshot(s('a'), s('z'));
        engine.clear();
        assert.deepEqual(keysOf(snap2), [hex(s('a')), hex(s('a2')), hex(s('c')), hex(s('d'))]);
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), []);
      });

      it('a snapshot stays stable across thousands of writes', async (t) => {
        const { engine } = await fresh(t);
        const base: WriteOp<Uint8Array, Uint8Array>[] = [];
        for (let i = 0; i < 1000; i++) base.push(put(s(`k${String(i).padStart(4, '0')}`), s('v0')));
        engine.write(base);
        const snap = engine.snapshot(undefined, undefined);
        let seen = 0;
        for (let round = 0; round < 50; round++) {
          const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
          for (let i = 0; i < 100; i++)
            ops.push(put(s(`k${String(round * 20 + i).padStart(4, '0')}`), s(`v${round + 1}`)));
          ops.push(del(s(`k${String(999 - round).padStart(4, '0')}`)));
          engine.write(ops);
          for (let n = 0; n < 20; n++) {
            const e = snap.next();
            assert.ok(e, `entry ${seen} must be there`);
            assert.equal(Buffer.from(e.value).toString(), 'v0');
            seen++;
          }
        }
        while (snap.next() !== undefined) seen++;
        snap.close();
        assert.equal(seen, 1000);
      });

      it('closing a cursor twice is harmless, and next after close returns undefined', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1')), put(s('b'), s('2'))]);
        for (const cursor of [engine.range(undefined, undefined), engine.snapshot(undefined, undefined)]) {
          assert.ok(cursor.next());
          cursor.close();
          cursor.close();
          assert.equal(cursor.next(), undefined);
        }
        const done = engine.range(undefined, undefined);
        drain(done);
        done.close();
      });

      it('thousands of cursors opened, half read and closed, leak nothing', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1')), put(s('b'), s('2')), put(s('c'), s('3'))]);
        for (let i = 0; i < 2000; i++) {
          const cursor = i % 2 === 0 ? engine.range(s('a'), undefined) : engine.snapshot(undefined, s('c'));
          cursor.next();
          cursor.close();
          if (i % 100 === 0) engine.write([put(s(`w${i}`), s('x'))]);
        }
        assert.equal(keysOf(engine.range(undefined, undefined)).length, 23);
      });

      it('closing the engine with cursors still open succeeds', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1')), put(s('b'), s('2'))]);
        const open1 = engine.range(undefined, undefined);
        open1.next();
        engine.snapshot(undefined, undefined);
        await engine.close();
        open1.close();
      });
    });

    describe('metadata', () => {
      it('readMeta returns undefined before any meta was written', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1'))]);
        assert.equal(engine.readMeta(), undefined);
      });

      it('meta written with a batch is read back and never shows in a range', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1'))], s('offset=1'));
        assert.equal(hex(engine.readMeta()), hex(s('offset=1')));
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), [hex(s('a'))]);
        assert.deepEqual(keysOf(engine.snapshot(undefined, undefined)), [hex(s('a'))]);
        assert.equal(engine.get(s('meta')), undefined);
        assert.equal(engine.get(s('offset')), undefined);
      });

      it('meta can be written with an empty batch, and a batch without meta keeps the last one', async (t) => {
        const { engine } = await fresh(t);
        engine.write([], s('m1'));
        assert.equal(hex(engine.readMeta()), hex(s('m1')));
        engine.write([put(s('a'), s('1'))]);
        assert.equal(hex(engine.readMeta()), hex(s('m1')));
        engine.write([put(s('b'), s('2'))], s('m2'));
        assert.equal(hex(engine.readMeta()), hex(s('m2')));
      });

      it('keys that look like metadata are plain data', async (t) => {
        const { engine } = await fresh(t);
        const lookalikes = [s('meta'), s('__meta'), b(0x00), b(0xff, 0xff, 0xff), s('eddy-meta')];
        engine.write(
          lookalikes.map((k) => put(k, s('data'))),
          s('the meta'),
        );
        for (const k of lookalikes) assert.equal(hex(engine.get(k)), hex(s('data')));
        assert.equal(hex(engine.readMeta()), hex(s('the meta')));
        assert.equal(keysOf(engine.range(undefined, undefined)).length, lookalikes.length);
      });

      it('a batch that fails part-way writes nothing, not even its meta', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1'))], s('m1'));
        const bad = { key: undefined, value: s('x') } as unknown as WriteOp<Uint8Array, Uint8Array>;
        assert.throws(() => engine.write([put(s('b'), s('2')), del(s('a')), bad], s('m2')));
        assert.equal(engine.get(s('b')), undefined);
        assert.equal(hex(engine.get(s('a'))), hex(s('1')));
        assert.equal(hex(engine.readMeta()), hex(s('m1')));
      });

      it('meta returned by readMeta belongs to the caller', async (t) => {
        const { engine } = await fresh(t);
        const meta = s('meta!');
        engine.write([], meta);
        meta.fill(0);
        engine.readMeta()?.fill(0);
        assert.equal(hex(engine.readMeta()), hex(s('meta!')));
      });
    });

    describe('clear, flush and close', () => {
      it('clear removes every key and the meta, and the engine stays usable', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(b(0x00), s('1')), put(b(0xff, 0xff), s('2')), put(s('m'), s('3'))], s('meta'));
        engine.clear();
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), []);
        assert.equal(engine.get(s('m')), undefined);
        assert.equal(engine.readMeta(), undefined);
        engine.write([put(s('again'), s('1'))], s('m2'));
        assert.deepEqual(keysOf(engine.range(undefined, undefined)), [hex(s('again'))]);
        assert.equal(hex(engine.readMeta()), hex(s('m2')));
      });

      it('flush resolves and changes nothing visible', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1'))], s('m'));
        await engine.flush();
        await engine.flush();
        assert.equal(hex(engine.get(s('a'))), hex(s('1')));
        assert.equal(hex(engine.readMeta()), hex(s('m')));
      });

      it('close is idempotent', async (t) => {
        const { engine } = await fresh(t);
        engine.write([put(s('a'), s('1'))]);
        await Promise.all([engine.close(), engine.close()]);
        await engine.close();
      });

      it('data and meta survive close and reopen', { skip: notPersistent }, async (t) => {
        const h = await fresh(t);
        h.engine.write([put(b(0x00), s('zero')), put(b(0xff), s('ff')), put(s('gone'), s('x'))], s('m1'));
        h.engine.write([del(s('gone'))], s('m2'));
        await h.engine.flush();
        const again = await h.reopen();
        assert.equal(hex(again.get(b(0x00))), hex(s('zero')));
        assert.equal(again.get(s('gone')), undefined);
        assert.deepEqual(keysOf(again.range(undefined, undefined)), ['00', 'ff']);
        assert.equal(hex(again.readMeta()), hex(s('m2')));
      });

      it('writes made without flush survive a clean close and reopen', { skip: notPersistent }, async (t) => {
        const h = await fresh(t);
        h.engine.write([put(s('a'), s('1'))], s('m'));
        const again = await h.reopen();
        assert.equal(hex(again.get(s('a'))), hex(s('1')));
        assert.equal(hex(again.readMeta()), hex(s('m')));
      });

      it('a clear survives close and reopen', { skip: notPersistent }, async (t) => {
        const h = await fresh(t);
        h.engine.write([put(s('a'), s('1'))], s('m'));
        h.engine.clear();
        const again = await h.reopen();
        assert.deepEqual(keysOf(again.range(undefined, undefined)), []);
        assert.equal(again.readMeta(), undefined);
      });
    });

    describe('randomized model test', () => {
      it('a few thousand random batches, gets, ranges and snapshots agree with a sorted reference map', async (t) => {
        const seed =
          process.env.EDDY_TEST_SEED === undefined
            ? (Math.random() * 2 ** 32) >>> 0
            : Number(process.env.EDDY_TEST_SEED);
        const h = await fresh(t);
        const rand = prng(seed);
        const int = (n: number): number => Math.floor(rand() * n);
        const alphabet = [0x00, 0x01, 0x41, 0x7f, 0x80, 0xfe, 0xff];
        const minKey = supports.emptyKey ? 0 : 1;
        const randomKey = (): Buffer => {
          const len = minKey + int(4 - minKey);
          const key = Buffer.alloc(len);
          for (let i = 0; i < len; i++) key[i] = alphabet[int(alphabet.length)];
          return key;
        };
        const model = new Map<string, string>();
        let meta: string | undefined;
        const expectRange = (
          snapshotOf: Map<string, string>,
          from: Buffer | undefined,
          to: Buffer | undefined,
        ): [string, string][] =>
          [...snapshotOf.entries()]
            .filter(([k]) => {
              const key = Buffer.from(k, 'hex');
              return (
                (from === undefined || compareBytes(key, from) >= 0) &&
                (to === undefined || compareBytes(key, to) < 0)
              );
            })
            .sort(([a], [b2]) => compareBytes(Buffer.from(a, 'hex'), Buffer.from(b2, 'hex')));
        const bound = (): Buffer | undefined => (int(4) === 0 ? undefined : randomKey());
        let step = 0;
        try {
          for (step = 0; step < 3000; step++) {
            const engine = h.engine;
            const what = int(100);
            if (what < 45) {
              const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
              const n = 1 + int(8);
              for (let i = 0; i < n; i++) {
                const key = randomKey();
                if (int(3) === 0) {
                  ops.push(del(key));
                  model.delete(key.toString('hex'));
                } else {
                  const value = Buffer.alloc(int(6), int(256));
                  ops.push(put(key, value));
                  model.set(key.toString('hex'), value.toString('hex'));
                }
              }
              if (int(3) === 0) {
                meta = `m${step}`;
                engine.write(ops, s(meta));
              } else {
                engine.write(ops);
              }
            } else if (what < 75) {
              const key = randomKey();
              assert.equal(
                hex(engine.get(key)),
                model.get(key.toString('hex')),
                `get ${key.toString('hex')}`,
              );
            } else if (what < 90) {
              const from = bound();
              const to = bound();
              assert.deepEqual(drain(engine.range(from, to)), expectRange(model, from, to), 'range');
            } else if (what < 97) {
              const from = bound();
              const to = bound();
              const frozen = new Map(model);
              const snap = engine.snapshot(from, to);
              const got: [string, string][] = [];
              const first = snap.next();
              if (first) got.push([hex(first.key) ?? '', hex(first.value) ?? '']);
              const putKey = randomKey();
              const delKey = randomKey();
              engine.write([put(putKey, s('after')), del(delKey)]);
              model.set(putKey.toString('hex'), s('after').toString('hex'));
              model.delete(delKey.toString('hex'));
              got.push(...drain(snap));
              assert.deepEqual(got, expectRange(frozen, from, to), 'snapshot');
            } else if (what < 98 && supports.persistent) {
              const again = await h.reopen();
              assert.equal(
                again.readMeta() === undefined
                  ? undefined
                  : Buffer.from(again.readMeta() as Uint8Array).toString(),
                meta,
              );
            } else if (what < 99) {
              assert.equal(
                engine.readMeta() === undefined
                  ? undefined
                  : Buffer.from(engine.readMeta() as Uint8Array).toString(),
                meta,
              );
            } else {
              engine.clear();
              model.clear();
              meta = undefined;
            }
          }
          assert.deepEqual(
            drain(h.engine.range(undefined, undefined)),
            expectRange(model, undefined, undefined),
          );
        } catch (err) {
          const message = `randomized engine test failed at step ${step} with seed ${seed} (rerun: EDDY_TEST_SEED=${seed})`;
          t.diagnostic(message);
          console.error(message);
          throw err;
        }
      });
    });

    describe('writeSpans, the bulk path of a restore (engines that have it)', () => {
      /** Ops as one span batch over one buffer, with filler bytes between the spans. */
      function spanBatch(ops: readonly { key: Buffer | null; value: Buffer | null }[]): SpanBatch {
        const parts: Buffer[] = [];
        const n = ops.length;
        const batch = {
          count: n,
          keyStart: new Int32Array(n + 3),
          keyLength: new Int32Array(n + 3),
          valueStart: new Int32Array(n + 3),
          valueLength: new Int32Array(n + 3),
        };
        let pos = 0;
        const add = (data: Buffer): number => {
          parts.push(b(0xee, 0xee), data);
          pos += 2 + data.length;
          return pos - data.length;
        };
        ops.forEach((op, i) => {
          batch.keyStart[i] = op.key === null ? 0 : add(op.key);
          batch.keyLength[i] = op.key === null ? -1 : op.key.length;
          batch.valueStart[i] = op.value === null ? 0 : add(op.value);
          batch.valueLength[i] = op.value === null ? -1 : op.value.length;
        });
        return { ...batch, buf: Buffer.concat(parts) };
      }

      it('applies puts, overwrites and deletes in order, skips keyless ops, and writes the metadata', async (t) => {
        const { engine } = await fresh(t);
        if (engine.writeSpans === undefined)
          return t.skip('the engine has no writeSpans (the store falls back to write)');
        engine.write([put(s('old'), s('1')), put(s('gone'), s('2'))]);
        engine.writeSpans(
          [
            spanBatch([
              { key: s('a'), value: s('one') },
              { key: null, value: s('no key') },
              { key: s('gone'), value: null },
              { key: s('a'), value: s('uno') },
            ]),
            spanBatch([
              { key: s('b'), value: new Uint8Array(0) as Buffer },
              { key: s('a'), value: s('a longer value') },
              { key: s('old'), value: s('9') },
            ]),
          ],
          s('marker'),
        );
        assert.deepEqual(drain(engine.range(undefined, undefined)), [
          [hex(s('a')), hex(s('a longer value'))],
          [hex(s('b')), ''],
          [hex(s('old')), hex(s('9'))],
        ]);
        assert.equal(Buffer.from(engine.readMeta() as Uint8Array).toString(), 'marker');
      });

      it('agrees with write on random batches (seeded)', async (t) => {
        const { engine } = await fresh(t);
        if (engine.writeSpans === undefined)
          return t.skip('the engine has no writeSpans (the store falls back to write)');
        const seed = Number(process.env.EDDY_TEST_SEED ?? Math.floor(Math.random() * 1e9));
        const rnd = prng(seed);
        const model = new Map<string, Buffer>();
        try {
          for (let round = 0; round < 20; round++) {
            const batches: SpanBatch[] = [];
            for (let bn = 0; bn < 1 + Math.floor(rnd() * 3); bn++) {
              const ops: { key: Buffer | null; value: Buffer | null }[] = [];
              for (let i = 0; i < Math.floor(rnd() * 400); i++) {
                const key = s(`k${Math.floor(rnd() * 300)}`);
                const value =
                  rnd() < 0.2 ? null : Buffer.alloc(Math.floor(rnd() * 120), Math.floor(rnd() * 256));
                ops.push({ key, value });
                if (value === null) model.delete(key.toString('hex'));
                else model.set(key.toString('hex'), value);
              }
              batches.push(spanBatch(ops));
            }
            engine.writeSpans(batches);
          }
          const expected = [...model.entries()]
            .sort(([x], [y]) => compareBytes(Buffer.from(x, 'hex'), Buffer.from(y, 'hex')))
            .map(([k, v]) => [k, v.toString('hex')]);
          assert.deepEqual(drain(engine.range(undefined, undefined)), expected);
        } catch (err) {
          console.error(`writeSpans random test failed with seed ${seed} (rerun: EDDY_TEST_SEED=${seed})`);
          throw err;
        }
      });

      it('a snapshot open during writeSpans keeps its view', async (t) => {
        const { engine } = await fresh(t);
        if (engine.writeSpans === undefined)
          return t.skip('the engine has no writeSpans (the store falls back to write)');
        engine.write([put(s('a'), s('1')), put(s('b'), s('2'))]);
        const view = engine.snapshot(undefined, undefined);
        engine.writeSpans([
          spanBatch([
            { key: s('a'), value: s('9') },
            { key: s('b'), value: null },
            { key: s('c'), value: s('3') },
          ]),
        ]);
        assert.deepEqual(drain(view), [
          [hex(s('a')), hex(s('1'))],
          [hex(s('b')), hex(s('2'))],
        ]);
        assert.deepEqual(drain(engine.range(undefined, undefined)), [
          [hex(s('a')), hex(s('9'))],
          [hex(s('c')), hex(s('3'))],
        ]);
      });
    });

    describe('writes in the background (writeInBackground, settle)', () => {
      const noBackground = 'the engine has no writeInBackground (the store writes synchronously)';
      /** The engine's background write, or undefined (the test then skips). */
      const background = (engine: StorageEngine) =>
        engine.writeInBackground === undefined || engine.settle === undefined
          ? undefined
          : {
              write: (ops: WriteOp<Uint8Array, Uint8Array>[], meta?: Uint8Array) =>
                (engine.writeInBackground as NonNullable<StorageEngine['writeInBackground']>).call(
                  engine,
                  ops,
                  meta,
                ),
              settle: () => (engine.settle as () => void).call(engine),
            };

      it('a background write lands whole with its metadata; before that reads see the state before it', async (t) => {
        const { engine } = await fresh(t);
        const bg = background(engine);
        if (bg === undefined) return t.skip(noBackground);
        engine.write([put(s('a'), s('0')), put(s('gone'), s('x'))], s('m0'));
        const ops: WriteOp<Uint8Array, Uint8Array>[] = [put(s('a'), s('1')), del(s('gone'))];
        for (let i = 0; i < 20_000; i++)
          ops.push(put(s(`k${String(i).padStart(6, '0')}`), Buffer.alloc(100, i % 251)));
        const landed = bg.write(ops, s('m1'));
        ops.length = 0; // the caller's array is free once the call returned
        const before = hex(engine.get(s('a')));
        assert.ok(
          before === hex(s('0')) || before === hex(s('1')),
          'the state before it, or after it once committed',
        );
        await landed;
        assert.equal(hex(engine.get(s('a'))), hex(s('1')));
        assert.equal(engine.get(s('gone')), undefined);
        assert.equal(hex(engine.get(s('k019999'))), hex(Buffer.alloc(100, 19_999 % 251)));
        assert.equal(hex(engine.readMeta()), hex(s('m1')));
        assert.equal(keysOf(engine.range(s('k'), s('l'))).length, 20_000);
      });

      it('settle blocks until the write is readable; a synchronous write after it lands after it', async (t) => {
        const { engine } = await fresh(t);
        const bg = background(engine);
        if (bg === undefined) return t.skip(noBackground);
        const landed = bg.write([put(s('a'), s('1')), put(s('b'), s('1'))]);
        bg.settle();
        assert.equal(hex(engine.get(s('b'))), hex(s('1')), 'readable once settle returned');
        const second = bg.write([put(s('a'), s('2')), put(s('c'), s('2'))]);
        engine.write([put(s('a'), s('3'))]); // waits for the write in flight
        assert.equal(hex(engine.get(s('a'))), hex(s('3')));
        assert.equal(hex(engine.get(s('c'))), hex(s('2')));
        await Promise.all([landed, second]);
        assert.equal(
          hex(engine.get(s('a'))),
          hex(s('3')),
          'the background write did not land over the later one',
        );
      });

      it('a key the engine refuses throws at the call and nothing is written', async (t) => {
        const { engine } = await fresh(t);
        const bg = background(engine);
        if (bg === undefined) return t.skip(noBackground);
        if (supports.emptyKey) return t.skip('every key fits this engine (no refused key to try)');
        assert.throws(
          () => bg.write([put(s('a'), s('1')), put(new Uint8Array(0), s('x'))]),
          (err: unknown) => isEddyError(err) && err.code === 'EDDY_INVALID_KEY',
        );
        bg.settle();
        assert.equal(engine.get(s('a')), undefined);
      });

      it('close waits for the write in flight, and a reopen holds it', { skip: notPersistent }, async (t) => {
        const h = await fresh(t);
        const bg = background(h.engine);
        if (bg === undefined) return t.skip(noBackground);
        const ops: WriteOp<Uint8Array, Uint8Array>[] = [];
        for (let i = 0; i < 5000; i++) ops.push(put(s(`k${i}`), s(`v${i}`)));
        const landed = bg.write(ops, s('meta'));
        const engine = await h.reopen();
        await landed;
        assert.equal(hex(engine.get(s('k4999'))), hex(s('v4999')));
        assert.equal(hex(engine.readMeta()), hex(s('meta')));
      });
    });
  });
  for (const name of skipped.keys()) {
    if (!seen.has(name)) throw new Error(`engineSuite(${options.name}): skip names an unknown test: ${name}`);
  }
}
