'use strict';
// frodoio across processes: Node servers and the C++ `frodo` see each other and agree with
// hashring@3.2.0; a server leaves on SIGTERM (removeServer) and on SIGKILL (its lease);
// close() lets a process exit, and registered servers keep it alive.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const HashRing = require('hashring');
const Frodo = require('..');
const { Etcd, freePort } = require('./support/etcd');
const { waitFor } = require('./support/wait');
const { Child } = require('./support/processes');

const fixture = path.join(__dirname, 'fixtures', 'server.js');
const frodoCli = process.env.FRODO_CLI || path.join(__dirname, '..', '..', '..', 'build', 'release', 'tools', 'frodo', 'frodo');

async function setUp(t, context) {
  const etcd = await Etcd.start();
  const children = [];
  const observer = new Frodo({ context, etcdServers: [etcd.endpoint] });
  t.after(async () => {
    await Promise.all(children.map((child) => child.stop()));
    await observer.close();
    await etcd.stop();
  });
  await observer.ready;
  const start = (...args) => {
    const child = new Child(process.execPath, [fixture, etcd.endpoint, context, ...args]);
    children.push(child);
    return child;
  };
  const has = (address) => observer.servers().some((server) => server.address === address);
  return { etcd, children, observer, start, has };
}

test('two Node servers and a C++ frodo register agree with each other and with hashring@3.2.0', async (t) => {
  const { etcd, children, observer } = await setUp(t, 'agree');
  const ids = Array.from({ length: 200 }, (_, i) => `host-${i}`);
  const addresses = [];
  for (let i = 0; i < 3; i++) addresses.push(`127.0.0.1:${await freePort()}`);
  const cpp = new Child(frodoCli, ['--etcd', etcd.endpoint, '--context', 'agree', 'register', addresses[2]]);
  children.push(cpp);
  const nodes = addresses.slice(0, 2).map((address) => {
    const child = new Child(process.execPath, [fixture, etcd.endpoint, 'agree', address, '5', '--lookup', '3', ...ids]);
    children.push(child);
    return child;
  });
  const ring = new HashRing(addresses);
  const expected = ids.map((id) => `owner ${id} ${ring.get(id)}`);
  for (const node of nodes) {
    await node.line(/^checksum /);
    assert.deepEqual(node.lines.filter((line) => line.startsWith('owner ')), expected);
  }
  assert.equal(nodes[0].lines.find((l) => l.startsWith('checksum')), nodes[1].lines.find((l) => l.startsWith('checksum')));
  await waitFor(() => observer.servers().length === 3, 20000, 'the observer to see 3 servers');
  assert.deepEqual(observer.serversByIds(ids), ids.map((id) => ring.get(id)));
  const lookup = spawnSync(frodoCli, ['--etcd', etcd.endpoint, '--context', 'agree', 'lookup'], { input: ids.join('\n') + '\n', encoding: 'utf8' });
  assert.equal(lookup.status, 0, lookup.stderr);
  assert.deepEqual(lookup.stdout.trim().split('\n'), ids.map((id) => ring.get(id)));
});

test('SIGTERM: the server process removes its server, closes and exits on its own', async (t) => {
  const { start, has, observer } = await setUp(t, 'sigterm');
  const address = `127.0.0.1:${await freePort()}`;
  const child = start(address, '5');
  await child.line(/^registered /);
  await waitFor(() => has(address), 20000, `${address} in the observer's view`);
  child.kill('SIGTERM');
  await child.line(/^removed$/);
  assert.deepEqual(await child.exited, { code: 0, signal: null });
  assert.equal(has(address), false, 'gone when removeServer resolved in the child');
  assert.deepEqual(observer.servers(), []);
});

test('SIGKILL: the server leaves by its lease within TTL + 1 s', async (t) => {
  const { start, has } = await setUp(t, 'sigkill');
  const address = `127.0.0.1:${await freePort()}`;
  const ttlSeconds = 2;
  const child = start(address, String(ttlSeconds));
  await child.line(/^registered /);
  await waitFor(() => has(address), 20000, `${address} in the observer's view`);
  const killed = Date.now();
  child.kill('SIGKILL');
  await waitFor(() => !has(address), 20000, `${address} to leave`);
  const took = Date.now() - killed;
  assert.ok(took <= ttlSeconds * 1000 + 1000, `left ${took} ms after SIGKILL, TTL ${ttlSeconds} s`);
});

test('close() lets the process exit; before it, a registered server keeps the process alive', async (t) => {
  const { start, has } = await setUp(t, 'lifetime');
  const closing = start(`127.0.0.1:${await freePort()}`, '5', '--close');
  await closing.line(/^closed$/);
  assert.deepEqual(await closing.exited, { code: 0, signal: null });

  const ttlSeconds = 1;
  const address = `127.0.0.1:${await freePort()}`;
  const holding = start(address, String(ttlSeconds));
  await holding.line(/^registered /);
  // Three TTLs later the process is still there, and so is its server (kept alive).
  const until = Date.now() + 3 * ttlSeconds * 1000;
  await waitFor(() => Date.now() >= until || holding.exit !== null, 10000, 'three TTLs');
  assert.equal(holding.exit, null, `the process exited: ${holding.stderr}`);
  assert.ok(has(address));
});
