import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { openEngine, openEngineAsync } from '../../../src/store/engines/index.js';
import { isEddyError } from '../../../src/util/errors.js';
import { tempDir } from '../../helpers/tmp.js';

const configError = (err: unknown): boolean => isEddyError(err, 'EDDY_INVALID_CONFIG');

describe('engine registry', () => {
  it('opens each kind by name', async (t) => {
    const dir = tempDir(t);
    for (const kind of ['memory', 'lmdb', 'rocksdb'] as const) {
      const engine = await openEngineAsync(kind, { dir: `${dir}/${kind}`, name: 's' });
      assert.equal(engine.kind, kind);
      engine.write([{ key: Buffer.from('k'), value: Buffer.from('v') }]);
      assert.equal(Buffer.from(engine.get(Buffer.from('k')) ?? []).toString(), 'v');
      await engine.close();
    }
    const lmdb = openEngine('lmdb', { dir: `${dir}/lmdb` });
    assert.equal(Buffer.from(lmdb.get(Buffer.from('k')) ?? []).toString(), 'v');
    await lmdb.close();
  });

  it('an unknown kind is a ConfigError naming the kinds', async () => {
    assert.throws(
      () => openEngine('leveldb', { dir: '/tmp/x' }),
      (err) => configError(err) && /memory, lmdb, rocksdb/.test(String(err)),
    );
    await assert.rejects(openEngineAsync('leveldb', { dir: '/tmp/x' }), configError);
  });

  it('a persistent engine without dir is a ConfigError naming dir', async () => {
    assert.throws(
      () => openEngine('lmdb', {}),
      (err) => configError(err) && /dir/.test(String(err)),
    );
    await assert.rejects(
      openEngineAsync('rocksdb', { name: 's' }),
      (err) => configError(err) && /dir/.test(String(err)),
    );
  });

  it('an option of another kind is a ConfigError naming it, and rocksdb asks for the async form', async () => {
    assert.throws(
      () => openEngine('memory', { mapSize: 1 << 20 }),
      (err) => configError(err) && /mapSize/.test(String(err)),
    );
    assert.throws(
      () => openEngine('rocksdb', { dir: '/tmp/x' }),
      (err) => configError(err) && /openEngineAsync/.test(String(err)),
    );
  });

  it('a process killed with SIGKILL right after write leaves every written batch readable', async (t) => {
    const dir = tempDir(t);
    for (const kind of ['lmdb', 'rocksdb'] as const) {
      const script = `
        import { openEngineAsync } from './src/store/engines/index.js';
        const e = await openEngineAsync('${kind}', { dir: ${JSON.stringify(`${dir}/${kind}`)}, name: 'crash' });
        for (let i = 0; i < 200; i++) {
          const ops = [];
          for (let j = 0; j < 50; j++) ops.push({ key: Buffer.from('k' + (i * 50 + j)), value: Buffer.alloc(100, i) });
          e.write(ops, Buffer.from(String(i)));
        }
        process.kill(process.pid, 'SIGKILL');`;
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: new URL('../../../', import.meta.url).pathname,
        encoding: 'utf8',
      });
      assert.equal(child.signal, 'SIGKILL', child.stderr);
      const engine = await openEngineAsync(kind, { dir: `${dir}/${kind}`, name: 'crash' });
      try {
        assert.equal(Buffer.from(engine.readMeta() ?? []).toString(), '199', kind);
        let count = 0;
        const cursor = engine.range(undefined, undefined);
        while (cursor.next() !== undefined) count++;
        cursor.close();
        assert.equal(count, 10_000, kind);
      } finally {
        await engine.close();
      }
    }
  });
});
