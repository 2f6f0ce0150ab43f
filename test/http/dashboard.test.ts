/**
 * The dashboard in real headless Chromium (driven by playwright-core): served with no outside
 * request (uPlot comes from the package), charts drawn with data, numbers changing while the job
 * runs, the dead letters listed. Saves a screenshot (`$TMPDIR/eddy-dashboard.png`, or under
 * `$EDDY_SCREENSHOT_DIR`) and prints its path.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startJob } from '../helpers/http-job.js';
import { missingTool } from '../helpers/system-tool.js';
import { makeTempDir } from '../helpers/tmp.js';

const TICKER = fileURLToPath(new URL('./fixtures/ticker-job.ts', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

test('the dashboard draws live charts in headless Chromium, offline', {
  skip: missingTool(CHROMIUM, 'chromium'),
}, async (t) => {
  const job = await startJob(t, { job: TICKER, topics: [['ticks', 2]] });
  // the profile goes after Chromium has closed (a t.after of tempDir would run first: hooks run in order)
  const profile = makeTempDir('eddy-chromium-');
  const browser = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(async () => {
    await browser.close();
    profile.remove();
  });
  const page = await browser.newPage();
  const outside: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(job.url)) outside.push(r.url());
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(job.url);
  // the code run in the page is a string: this file is compiled without the DOM's types
  await page.waitForFunction('Number(document.body.dataset.samples ?? 0) >= 4', undefined, {
    timeout: 30_000,
  });
  const processed = async () => (await page.locator('#kpis .kpi .v').first().textContent()) ?? '';
  const first = await processed();

  // every chart has a canvas with non-blank pixels
  for (const id of ['chart-throughput', 'chart-stores', 'chart-lag']) {
    const canvas = page.locator(`#${id} canvas`);
    assert.equal(await canvas.count(), 1, id);
    const painted = (await page.evaluate(`(() => {
      const c = document.querySelector('#${id} canvas');
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
      return n;
    })()`)) as number;
    assert.ok(painted > 500, `${id}: ${painted} painted pixels`);
  }
  const legend = (await page.evaluate(
    `[...document.querySelectorAll('#chart-stores .u-legend .u-series')].map((e) => e.textContent).join(' ')`,
  )) as string;
  for (const series of ['reads', 'inserts', 'updates', 'deletes']) assert.ok(legend.includes(series), legend);

  // the store table shows per-partition rates and the tasks table both tasks
  assert.equal(await page.locator('#stores table tr').count(), 3); // a header, counts/0, counts/1
  assert.match((await page.locator('#stores table').textContent()) ?? '', /counts0.*counts1/);
  assert.match((await page.locator('#tasks table').textContent()) ?? '', /Partition 0.*Partition 1/);
  // the ticker sends a poison message every 5,000: it shows among the dead letters
  await page.waitForFunction(
    "/dead-lettered/.test(document.getElementById('events').textContent)",
    undefined,
    {
      timeout: 30_000,
    },
  );

  // the numbers move while the job runs
  await page.waitForFunction(
    `document.querySelector('#kpis .kpi .v').textContent !== ${JSON.stringify(first)}`,
    undefined,
    { timeout: 15_000 },
  );
  const second = await processed();
  assert.ok(Number(second.replace(/,/g, '')) > Number(first.replace(/,/g, '')), `${second} > ${first}`);

  // one file, overwritten by each run (EDDY_SCREENSHOT_DIR to put it elsewhere)
  const shot = join(process.env.EDDY_SCREENSHOT_DIR ?? tmpdir(), 'eddy-dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`dashboard screenshot: ${shot}`);
  assert.deepEqual(outside, [], 'the page fetched nothing from outside the job');
  assert.deepEqual(errors, []);
  assert.equal(await job.stop(), 0, job.stderr());
});
