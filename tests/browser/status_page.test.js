'use strict';
// The status page of `frodo serve` (GET /, docs/http-api.md) in a real headless Chromium:
// Debian's chromium, driven by playwright-core over its DevTools pipe. A real etcd (the Node
// package's test helper), a real `frodo serve`, real `frodo add` processes; every server is
// on loopback. Every wait has a deadline; every process started here is stopped by its PID.
//
// Environment: FRODO_BINARY (the frodo executable, required), FRODO_CHROMIUM (default
// /usr/bin/chromium), FRODO_SCREENSHOT (where the PNG goes; default in the temp dir).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = (() => {
  try {
    return require('playwright-core');
  } catch (error) {
    throw new Error(`playwright-core is missing: run \`npm ci\` in tests/browser (scripts/setup does): ${error.message}`);
  }
})();
const { Etcd } = require('../../bindings/node/test/support/etcd');
const { Child } = require('../../bindings/node/test/support/processes');

const WAIT_MS = 20000;  // for any one thing to show up: a process, a page, a change on it
const frodoBinary = process.env.FRODO_BINARY;
const chromiumPath = process.env.FRODO_CHROMIUM || '/usr/bin/chromium';
const screenshotPath = process.env.FRODO_SCREENSHOT || path.join(os.tmpdir(), 'frodo-status-page.png');

// Runs `frodo ARGS...` to completion (bounded); resolves with its stdout, rejects naming stderr.
function frodo(args) {
  return new Promise((resolve, reject) => {
    execFile(frodoBinary, args, { timeout: WAIT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`frodo ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

async function api(base, method, route, body) {
  const response = await fetch(base + route, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${method} ${route}: ${text}`);
  return JSON.parse(text);
}

// Stops a child by its PID: SIGTERM (the sidecar revokes its lease), SIGKILL if it lingers.
async function stopChild(child) {
  if (child.exit !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await child.exited;
  clearTimeout(timer);
}

// The members table as the page shows it, read from the DOM.
function tableRows(page) {
  return page.$$eval('#member-rows tr', (rows) => rows.map((row) => {
    const cell = (name) => { const c = row.querySelector('td.' + name); return c ? c.textContent : null; };
    const badge = row.querySelector('td.agreement .badge');
    return { address: cell('address'), weight: cell('weight'), zone: cell('zone'), share: cell('share'),
      meta: cell('meta'), agreement: badge ? { state: badge.dataset.state, text: badge.textContent } : null };
  }));
}

// Waits until the page shows a row for `address` (and returns the table).
async function rowAppears(page, address) {
  await page.waitForFunction((a) => [...document.querySelectorAll('#member-rows td.address .mono')]
    .some((node) => node.textContent === a), address, { timeout: WAIT_MS });
  return tableRows(page);
}

test('the status page shows the view, follows changes live, escapes hostile records and compares views',
  { timeout: 180000 }, async (t) => {
    assert.ok(frodoBinary, 'FRODO_BINARY must name the frodo executable (CTest sets it)');
    assert.ok(fs.existsSync(frodoBinary), `FRODO_BINARY ${frodoBinary} does not exist: build the release preset`);
    assert.ok(fs.existsSync(chromiumPath),
      `no Chromium at ${chromiumPath}: install Debian's chromium (scripts/setup does) or set FRODO_CHROMIUM`);

    const etcd = await Etcd.start();
    t.after(() => etcd.stop());
    const context = 'status-page';  // the etcd is this test's own
    const global = ['--etcd', etcd.endpoint, '--context', context];

    // Two servers before the sidecar starts: the page's first view holds them.
    await frodo([...global, 'add', '127.0.0.1:7001', '--persistent', '--zone', 'zone-a']);
    await frodo([...global, 'add', '127.0.0.1:7002', '--persistent', '--zone', 'zone-b', '--weight', '2']);

    const serve = new Child(frodoBinary, [...global, 'serve', '--listen', '127.0.0.1:0', '--register', '127.0.0.1:7003']);
    t.after(() => stopChild(serve));
    const listening = await serve.line(/^listening on http:\/\//, WAIT_MS);
    const base = listening.match(/^listening on (http:\/\/\S+)/)[1];

    // The page itself: HTML, with a policy that lets only its own script run.
    const pageResponse = await fetch(base + '/', { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(pageResponse.status, 200);
    assert.match(pageResponse.headers.get('content-type'), /^text\/html/);
    assert.match(pageResponse.headers.get('content-security-policy'), /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    await pageResponse.text();

    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      timeout: WAIT_MS,
      args: [...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
    });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const problems = [];  // anything the page complained about, or a dialog a script opened
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
    page.on('dialog', (dialog) => { problems.push(`dialog: ${dialog.message()}`); dialog.dismiss().catch(() => {}); });

    // The initial view, as /v1/servers gives it.
    const first = await api(base, 'GET', '/v1/servers');
    assert.equal(first.servers.length, 3);
    assert.match(first.lease, /^[0-9a-f]+$/);
    await page.goto(base + '/', { timeout: WAIT_MS });
    await page.waitForFunction((r) => document.getElementById('revision').textContent === String(r),
      first.revision, { timeout: WAIT_MS });
    assert.equal(await page.textContent('#context'), context);
    assert.equal(await page.textContent('#checksum'), first.checksum);
    assert.equal(await page.textContent('#algorithm'), 'ketama');
    assert.equal(await page.textContent('#lease'), first.lease);
    let rows = await tableRows(page);
    assert.deepEqual(rows.map((r) => r.address), ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003']);
    assert.deepEqual(rows.map((r) => r.zone), ['zone-a', 'zone-b', '—']);
    assert.deepEqual(rows.map((r) => r.weight), ['1', '2', '1']);
    for (const [i, row] of rows.entries()) {
      assert.equal(row.share, `${(first.servers[i].share * 100).toFixed(1)}%`, `share of ${row.address}`);
      assert.deepEqual(row.agreement, { state: 'absent', text: 'not published' });
    }
    assert.equal(await page.locator('#arcs circle').count(), 3, 'one arc per member');
    assert.equal(await page.locator('#arcs circle title').first().textContent(), `127.0.0.1:7001: ${rows[0].share} of ids`);
    assert.equal(await page.locator('#changes li[data-kind="loaded"]').count(), 1);

    // A server registered by another process appears without a reload: in the table, on the
    // ring and in the changes. (A reload would drop the marker.)
    await page.evaluate(() => { window.notReloaded = true; });
    await frodo([...global, 'add', '127.0.0.2:7001', '--persistent', '--zone', 'zone-c']);
    rows = await rowAppears(page, '127.0.0.2:7001');
    await page.waitForFunction(() => [...document.querySelectorAll('#changes li[data-kind="joined"]')]
      .some((li) => li.textContent.includes('127.0.0.2:7001')), null, { timeout: WAIT_MS });
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
    assert.equal(await page.locator('#arcs circle').count(), 4);
    const joined = await api(base, 'GET', '/v1/servers');
    assert.equal(await page.textContent('#revision'), String(joined.revision));
    assert.match(await page.textContent('#changes li[data-kind="joined"]'), new RegExp(`r${joined.revision}joined127\\.0\\.0\\.2:7001`));

    // A hostile record: its zone and meta are markup and script. They show as text; nothing runs.
    const hostileZone = '<img src=x onerror="window.pwned=1;alert(1)">';
    const hostileMeta = { '<b>key</b>': '<script>window.pwned=2</script>', note: '"quoted" & <i>tagged</i>' };
    await api(base, 'PUT', '/v1/servers/127.0.0.3:7001', { zone: hostileZone, meta: hostileMeta });
    rows = await rowAppears(page, '127.0.0.3:7001');
    const hostile = rows.find((r) => r.address === '127.0.0.3:7001');
    assert.equal(hostile.zone, hostileZone);
    assert.equal(hostile.meta, '<b>key</b>=<script>window.pwned=2</script>  note="quoted" & <i>tagged</i>');
    assert.equal(await page.locator('#members img, #members script, #members b, #members i').count(), 0);
    await page.waitForFunction(() => [...document.querySelectorAll('#changes li[data-kind="joined"]')]
      .some((li) => li.textContent.includes(`127.0.0.3:7001`)), null, { timeout: WAIT_MS });
    assert.equal(await page.evaluate(() => window.pwned), undefined);

    // View agreement: members publish the checksum of the view they hold in meta "frodo.view"
    // (meta is not part of the ring's checksum, so publishing does not change it). 7001 holds
    // the current view, 7002 the first one (behind), 127.0.0.3 one the page never saw.
    const now = await api(base, 'GET', '/v1/servers');
    const never = 'ffffffffffffffff';
    assert.notEqual(now.checksum, first.checksum);
    await api(base, 'PUT', '/v1/servers/127.0.0.1:7001', { zone: 'zone-a', meta: { 'frodo.view': now.checksum } });
    await api(base, 'PUT', '/v1/servers/127.0.0.1:7002', { zone: 'zone-b', weight: 2, meta: { 'frodo.view': first.checksum } });
    await api(base, 'PUT', '/v1/servers/127.0.0.3:7001',
      { zone: hostileZone, meta: { ...hostileMeta, 'frodo.view': never } });
    await page.waitForFunction(() => document.getElementById('agreement').dataset.state === 'differs' &&
      document.getElementById('agreement').textContent.startsWith('2 of 3'), null, { timeout: WAIT_MS });
    assert.equal(await page.textContent('#agreement'), '2 of 3 differ: 127.0.0.1:7002, 127.0.0.3:7001 (2 not published)');
    assert.equal(await page.textContent('#checksum'), now.checksum, 'publishing did not change the view checksum');
    rows = await tableRows(page);
    const verdict = Object.fromEntries(rows.map((r) => [r.address, r.agreement]));
    assert.deepEqual(verdict['127.0.0.1:7001'], { state: 'agrees', text: 'agrees' });
    assert.deepEqual(verdict['127.0.0.1:7002'],
      { state: 'differs', text: `behind: holds ${first.checksum} (revision ${first.revision})` });
    assert.deepEqual(verdict['127.0.0.3:7001'], { state: 'differs', text: `differs: holds ${never}` });
    assert.deepEqual(verdict['127.0.0.1:7003'], { state: 'absent', text: 'not published' });
    assert.deepEqual(verdict['127.0.0.2:7001'], { state: 'absent', text: 'not published' });
    assert.ok(await page.locator('#changes li[data-kind="changed"]', { hasText: 'meta frodo.view=' + now.checksum }).count() >= 1);

    fs.mkdirSync(path.dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath, fullPage: true });
    assert.ok(fs.statSync(screenshotPath).size > 10000, 'a screenshot was written');

    // Once every publishing member holds the current view, the headline says so.
    await api(base, 'PUT', '/v1/servers/127.0.0.1:7002', { zone: 'zone-b', weight: 2, meta: { 'frodo.view': now.checksum } });
    await api(base, 'PUT', '/v1/servers/127.0.0.3:7001', { zone: hostileZone, meta: { 'frodo.view': now.checksum } });
    await page.waitForFunction(() => document.getElementById('agreement').dataset.state === 'agrees', null,
      { timeout: WAIT_MS });
    assert.equal(await page.textContent('#agreement'), 'all 3 publishing members agree (2 not published)');

    // A server that leaves is listed as left, and its row and arc go.
    await frodo([...global, 'remove', '127.0.0.2:7001']);
    await page.waitForFunction(() => [...document.querySelectorAll('#changes li[data-kind="left"]')]
      .some((li) => li.textContent.includes('127.0.0.2:7001')), null, { timeout: WAIT_MS });
    rows = await tableRows(page);
    assert.ok(!rows.some((r) => r.address === '127.0.0.2:7001'));
    assert.equal(await page.locator('#arcs circle').count(), 4);

    // A process that publishes its view by itself (ClusterOptions::publish_view): once its
    // record carries the checksum of the view with it, the page says it agrees.
    const publisher = new Child(frodoBinary, [...global, 'register', '127.0.0.4:7001', '--publish-view']);
    t.after(() => stopChild(publisher));
    await publisher.line(/^registered 127\.0\.0\.4:7001/, WAIT_MS);
    await rowAppears(page, '127.0.0.4:7001');
    await page.waitForFunction(() => [...document.querySelectorAll('#member-rows tr')].some((row) =>
      row.querySelector('td.address').textContent.includes('127.0.0.4:7001') &&
      row.querySelector('td.agreement .badge').dataset.state === 'agrees'), null, { timeout: WAIT_MS });
    const latest = await api(base, 'GET', '/v1/servers');
    assert.equal(latest.servers.find((s) => s.address === '127.0.0.4:7001').meta['frodo.view'], latest.checksum);
    assert.equal(await page.textContent('#checksum'), latest.checksum);

    assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script of a record ran');
    assert.deepEqual(problems, []);
    assert.equal(await page.getAttribute('#connection', 'data-state'), 'live');
  });
