// The admin dashboard in a real browser: Debian's headless Chromium, driven by playwright-core,
// against a real gateway and two simulated model servers. The page must load without a console
// error, list every router of the configuration, and show a server as down (red) within seconds
// of its process dying. A screenshot is left in MODELGATE_ARTIFACTS_DIR (default: the directory
// of MODELGATE_BIN) for a human to look at.
//
// Needs: MODELGATE_BIN (default ../../build/modelgate), `apt-get install chromium`
// (MODELGATE_CHROMIUM overrides /usr/bin/chromium), `npm install` in test/js.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { BIN, freePort, startGateway, startSim, stopAll } from './helpers.mjs';

const CHROMIUM = process.env.MODELGATE_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.MODELGATE_ARTIFACTS_DIR ?? dirname(BIN);
const MODEL = 'Qwen2.5-0.5B-Instruct';
const ROUTERS = ['chat', 'models', 'fallback'];

let alpha, beta, gw, adminPort, browser;

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`);
}

// One chat completion through the gateway, streamed or not.
async function chat(stream) {
  const res = await fetch(`http://127.0.0.1:${gw.port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, max_tokens: 4, stream, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install chromium (or set MODELGATE_CHROMIUM)`);
  alpha = await startSim('alpha', [MODEL]);
  beta = await startSim('beta', [MODEL]);
  adminPort = await freePort();
  gw = await startGateway(`
entryPoints:
  web: {address: "127.0.0.1:0"}
admin:
  address: "127.0.0.1:${adminPort}"
http:
  routers:
    chat: {rule: "PathPrefix(\`/v1/chat\`)", service: pool}
    models: {rule: "Path(\`/v1/models\`)", service: spare}
    fallback: {rule: "PathPrefix(\`/\`)", service: pool, priority: 1}
  services:
    pool:
      loadBalancer:
        healthCheck: {path: /health, interval: 500ms, timeout: 400ms, fall: 1, rise: 1}
        servers:
          - url: "${alpha.url}"
          - url: "${beta.url}"
    spare:
      loadBalancer:
        healthCheck: {path: /health, interval: 500ms, timeout: 400ms, fall: 1, rise: 1}
        servers:
          - url: "${beta.url}"
`);
  await waitFor(`the admin API on 127.0.0.1:${adminPort} did not answer (is AdminServer started by serve?)`,
    async () => (await fetch(`http://127.0.0.1:${adminPort}/api/status`)).ok, 10000);
  // Some traffic, so that the chart and the counters have something to show.
  // Streamed ones too: time to first token is measured on streams; two in a row, so that round
  // robin gives each server some.
  for (let i = 0; i < 20; i++) await chat(i % 4 >= 2);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 20000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  stopAll(gw?.child, alpha?.child, beta?.child);
});

test('dashboard lists the routers and shows a dead server as down', { timeout: 60000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(10000);
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => errors.push(`page: ${err.message}`));
  const external = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol !== 'data:' && url.host !== `127.0.0.1:${adminPort}`) external.push(req.url());
  });

  const res = await page.goto(`http://127.0.0.1:${adminPort}/dashboard/`, { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'], /^text\/html/);

  for (const name of ROUTERS) {
    await page.locator(`[data-router="${name}"]`).waitFor({ state: 'visible' });
  }
  assert.equal(await page.locator('[data-router]').count(), ROUTERS.length);
  await page.locator('[data-entrypoint="web"]').waitFor({ state: 'visible' });

  const row = (sim, state, service = 'pool') =>
    page.locator(`[data-server-url="${sim.url}"][data-service="${service}"][data-state="${state}"]`);
  await row(alpha, 'up').waitFor({ state: 'visible' });
  await row(beta, 'up').waitFor({ state: 'visible' });
  // Per-server time to first token quantiles, from the streamed requests each server answered.
  for (const sim of [alpha, beta]) {
    // More streams while waiting: on a loaded machine a health check can time out (fall: 1) and
    // leave one server out of the first round.
    await waitFor(`no TTFT p50 / p99 shown for ${sim.url}`, async () => {
      await chat(true);
      await chat(true);
      return /\d+ ms \/ \d+ ms/.test(await row(sim, 'up').innerText({ timeout: 2000 }));
    }, 15000);
  }
  await page.locator('#conn.live').waitFor({ state: 'visible' });

  const killedAt = Date.now();
  beta.child.kill('SIGKILL');
  await row(beta, 'down').waitFor({ state: 'visible', timeout: 10000 });
  const seenAfter = Date.now() - killedAt;
  await row(beta, 'down', 'spare').waitFor({ state: 'visible', timeout: 10000 });
  await page.locator('#alert-down.show').waitFor({ state: 'visible', timeout: 2000 });
  // beta sits in two pools: one machine down, listed once with both pools.
  const banner = await page.locator('#alert-down').innerText();
  assert.match(banner, /1 server is down/);
  assert.equal(await page.locator('#alert-down li').count(), 1, banner);
  assert.match(banner, new RegExp(`${beta.url.replaceAll('.', '\\.')} in pool, spare`));
  // The down badge is drawn in red, not merely labelled.
  const color = await row(beta, 'down').locator('.badge').evaluate((el) => getComputedStyle(el).backgroundColor);
  const [r, g, b] = color.match(/\d+/g).map(Number);
  assert.ok(r > 150 && g < 100 && b < 100, `the down badge should be red, is ${color}`);
  assert.ok(await row(alpha, 'up').isVisible(), 'the surviving server stays up');
  assert.match(await page.title(), /1 down/);

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`dashboard showed ${beta.url} down ${seenAfter} ms after it died; screenshot ${shot}`);

  assert.deepEqual(errors, [], 'the page logged errors');
  assert.deepEqual(external, [], 'the page loaded something from another host');
});

test('dashboard says when the etcd provider is not connected', { timeout: 60000 }, async () => {
  const etcdPort = await freePort();  // nothing listens there
  const port = await freePort();
  const g = await startGateway(`
entryPoints:
  web: {address: "127.0.0.1:0"}
admin:
  address: "127.0.0.1:${port}"
providers:
  etcd: {endpoints: ["127.0.0.1:${etcdPort}"]}
http:
  routers: {all: {rule: "PathPrefix(\`/\`)", service: pool}}
  services: {pool: {loadBalancer: {servers: [{url: "${alpha.url}"}]}}}
`);
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/dashboard/`, { waitUntil: 'load' });
    await page.locator('#alert-provider.show').waitFor({ state: 'visible', timeout: 10000 });
    // The error arrives with the first sample after etcd's first answer failed (samples: 1 s).
    const text = await waitFor('no etcd error in the banner',
      async () => { const t = await page.locator('#alert-provider').innerText(); return /etcd unreachable/.test(t) && t; },
      15000);
    assert.match(text, new RegExp(`etcd \\(127\\.0\\.0\\.1:${etcdPort}\\) is not connected`));
    assert.match(text, /serving the file's configuration only/);
    await page.close();
  } finally {
    stopAll(g.child);
  }
});
