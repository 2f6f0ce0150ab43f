/**
 * A real Prometheus server scrapes a running `eddy run --http` every second; its query API shows
 * the job's `eddy_store_reads_total` rising; `promtool check metrics` passes on the exposition.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startJob, waitFor } from '../helpers/http-job.js';
import { missingTool } from '../helpers/system-tool.js';
import { tempDir } from '../helpers/tmp.js';

const TICKER = fileURLToPath(new URL('./fixtures/ticker-job.ts', import.meta.url));

test('Prometheus scrapes a running job and sees eddy_store_reads_total rise; promtool accepts the exposition', {
  skip: missingTool('/usr/bin/prometheus', 'prometheus') || missingTool('/usr/bin/promtool', 'prometheus'),
}, async (t) => {
  const job = await startJob(t, { job: TICKER, topics: [['ticks', 2]] });
  const target = new URL(job.url).host;

  const text = await (await fetch(`${job.url}/metrics`)).text();
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  // task metrics name the task thread (eddy run's default threads: auto)
  assert.match(text, /^eddy_task_processed_total\{[^}]*partition="1"[^}]*thread="\d+"[^}]*\} \d+/m);
  for (const name of [
    'eddy_store_reads_total',
    'eddy_store_inserts_total',
    'eddy_store_updates_total',
    'eddy_store_deletes_total',
    'eddy_store_get_duration_seconds_bucket',
    'eddy_task_processed_total',
    'eddy_task_lag_records',
    'eddy_job_commit_duration_seconds_count',
    'process_cpu_seconds_total',
  ]) {
    assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), name);
  }

  const dir = tempDir(t, 'eddy-prom-');
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 900ms',
      'scrape_configs:',
      '  - job_name: eddy',
      // the job's own `job` label (the Eddy job's name) wins over the scrape job's name
      '    honor_labels: true',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const prometheus = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let promLog = '';
  prometheus.stderr.setEncoding('utf8');
  prometheus.stderr.on('data', (d: string) => {
    promLog += d.slice(0, 20_000);
  });
  const promExit = new Promise((resolve) => prometheus.on('exit', resolve));
  t.after(async () => {
    prometheus.kill('SIGTERM');
    const timer = setTimeout(() => prometheus.kill('SIGKILL'), 10_000);
    await promExit;
    clearTimeout(timer);
  });

  const api = `http://127.0.0.1:${port}/api/v1`;
  const reads = async (): Promise<number | undefined> => {
    const r = await fetch(
      `${api}/query?query=${encodeURIComponent('sum(eddy_store_reads_total{job="ticker"})')}`,
    );
    const body = (await r.json()) as { data?: { result?: { value: [number, string] }[] } };
    const v = body.data?.result?.[0]?.value[1];
    return v === undefined ? undefined : Number(v);
  };
  const first = await waitFor('Prometheus to scrape the job', reads, 60_000).catch((err) => {
    throw new Error(`${(err as Error).message}\nprometheus:\n${promLog}\neddy:\n${job.stderr()}`);
  });
  const later = await waitFor('eddy_store_reads_total to rise', async () => {
    const v = await reads();
    return v !== undefined && v > first ? v : undefined;
  });
  assert.ok(later > first, `${later} > ${first}`);

  // the target is up and its series carry the job's labels
  const up = await (await fetch(`${api}/query?query=${encodeURIComponent('up{job="eddy"}')}`)).json();
  assert.equal((up as { data: { result: { value: [number, string] }[] } }).data.result[0].value[1], '1');
  const series = (await (
    await fetch(`${api}/series?match[]=${encodeURIComponent('eddy_store_updates_total')}`)
  ).json()) as { data: Record<string, string>[] };
  assert.deepEqual(series.data.map((s) => `${s.store}/${s.partition}`).sort(), ['counts/0', 'counts/1']);
  assert.equal(await job.stop(), 0, job.stderr());
});
