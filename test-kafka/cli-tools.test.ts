/**
 * `eddy topics`, `produce` and `consume` with `--backend kafka --brokers …` on a real broker: the
 * same flags and the same output as on the embedded log.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../src/cli/main.js';
import { startBroker } from './helpers/broker.js';

async function eddy(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('the shell tools on Kafka', () => {
  const broker = startBroker();
  after(() => broker.stop());
  const kafka = (): string[] => ['--backend', 'kafka', '--brokers', broker.bootstrap];

  it('topics create|list|describe|delete, produce and consume work as on the embedded log', async () => {
    const created = await eddy(
      'topics',
      'create',
      'cli-orders',
      '--partitions',
      '2',
      '--retention-ms',
      '-1',
      ...kafka(),
    );
    assert.equal(created.code, 0, created.err);
    assert.equal(created.out, 'created topic cli-orders with 2 partition(s), cleanup delete\n');

    const list = await eddy('topics', 'list', '--json', ...kafka());
    assert.equal(list.code, 0, list.err);
    assert.ok((JSON.parse(list.out) as string[]).includes('cli-orders'), list.out);

    const input = 'alice\tbook\nbob\tpen\n\n{"not":"json-mode"}\n';
    const dir = mkdtempSync(join(tmpdir(), 'eddy-cli-kafka-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'in.tsv'), input);
    const p = await eddy('produce', 'cli-orders', '--file', join(dir, 'in.tsv'), ...kafka());
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /^produced 3 record\(s\) to topic cli-orders\n/);

    const c = await eddy('consume', 'cli-orders', '--from-beginning', '--max', '3', ...kafka());
    assert.equal(c.code, 0, c.err);
    const values = c.out
      .trim()
      .split('\n')
      .map((l) => l.split('\t').slice(2).join('\t'))
      .sort();
    assert.deepEqual(values, ['\t{"not":"json-mode"}', 'alice\tbook', 'bob\tpen']);

    const d = await eddy('topics', 'describe', 'cli-orders', '--json', ...kafka());
    assert.equal(d.code, 0, d.err);
    const info = JSON.parse(d.out);
    assert.equal(info.config.partitions, 2);
    assert.equal(info.config.retentionMs, -1);
    const partition = info.partitions.find((x: { endOffset: number }) => x.endOffset > 0).partition;
    const text = await eddy('topics', 'describe', 'cli-orders', ...kafka());
    assert.match(text.out, /partition\s+earliest\s+end/);

    const at = await eddy(
      'consume',
      'cli-orders',
      '--partition',
      String(partition),
      '--offset',
      '0',
      '--max',
      '1',
      ...kafka(),
    );
    assert.equal(at.code, 0, at.err);
    assert.match(at.out, new RegExp(`^${partition}\\t0\\t`));

    const compact = await eddy('topics', 'compact', 'cli-orders', ...kafka());
    assert.equal(compact.code, 1);
    assert.match(compact.err, /is for the embedded log/);

    const deleted = await eddy('topics', 'delete', 'cli-orders', ...kafka());
    assert.equal(deleted.code, 0, deleted.err);
    assert.equal(deleted.out, 'deleted topic cli-orders\n');
  });

  it('--backend kafka without brokers is an error naming the flag', async () => {
    const r = await eddy('topics', 'list', '--backend', 'kafka');
    assert.equal(r.code, 1);
    assert.match(r.err, /--backend kafka needs --brokers/);
  });
});
