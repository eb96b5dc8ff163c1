'use strict';
// Every lookup path answers alike, and as hashring@3.2.0 does: serverById, serverByIdSync and
// serversByIds (in chunks, on two threads, with ids of any content and length).
const test = require('node:test');
const assert = require('node:assert/strict');
const HashRing = require('hashring');
const { openFrodo } = require('./support/frodo');

test('serverByIdSync, serversByIds and serverById agree with hashring@3.2.0 on any ids', async (t) => {
  const { frodo } = await openFrodo(t, 'lookups');
  assert.equal(frodo.serverByIdSync('x'), null, 'no servers: no owner');
  assert.deepEqual(frodo.serversByIds(['x', 'y']), [null, null]);
  assert.deepEqual(frodo.serversByIds([]), []);

  const servers = Array.from({ length: 50 }, (_, i) => `127.0.0.${1 + i}:${7000 + i}`);
  await Promise.all(servers.map((s) => frodo.addServer(s, { persistent: true })));
  const ring = new HashRing(servers);
  const special = ['', 'é', 'ünïcödé-日本語', '😀', '\ud800', 'a\udc00b', '\u0000', 'x'.repeat(100000),
    '日'.repeat(200000), 'line\nbreak'];
  // More than one chunk of 65,536, and more than the two-thread threshold in each.
  const ids = [...special];
  for (let i = 0; ids.length < 140000; i++) ids.push(`host-${i}`);
  const expected = ids.map((id) => ring.get(id));
  assert.deepEqual(frodo.serversByIds(ids), expected);
  assert.deepEqual(ids.map((id) => frodo.serverByIdSync(id)), expected);
  for (const id of special) assert.equal(await frodo.serverById(id), ring.get(id), JSON.stringify(id.slice(0, 20)));

  // An id over the limit is refused by name in both paths; nothing else changes.
  const huge = 'y'.repeat((1 << 20) + 1);
  assert.throws(() => frodo.serversByIds(['a', huge]), (e) => e.code === 'invalid_argument' && /ids\[1\]/.test(e.message));
  assert.throws(() => frodo.serverByIdSync(huge), (e) => e.code === 'invalid_argument');
  assert.throws(() => frodo.serversByIds(['a', '€'.repeat(400000)]), (e) => e.code === 'invalid_argument' && /1200000 bytes/.test(e.message));
  assert.deepEqual(frodo.serversByIds(ids.slice(0, 10)), expected.slice(0, 10));
  // A bad id in the second chunk, found while the first chunk is looked up on the helper
  // threads: the call throws, the running lookup is finished, and the next call works.
  const withBad = ids.slice(0, 70000);
  withBad[69999] = 17;
  assert.throws(() => frodo.serversByIds(withBad), (e) => e.code === 'invalid_argument' && /ids\[69999\] must be a string, got number 17/.test(e.message));
  assert.deepEqual(frodo.serversByIds(ids), expected);
});

test('answers follow the view: a server that leaves stops owning ids at once in every path', async (t) => {
  const { frodo } = await openFrodo(t, 'follow');
  const servers = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'];
  for (const s of servers) await frodo.addServer(s);
  const ids = Array.from({ length: 20000 }, (_, i) => `e${i}`);
  assert.deepEqual(frodo.serversByIds(ids), ids.map((id) => new HashRing(servers).get(id)));
  await frodo.removeServer(servers[1]);
  const rest = new HashRing([servers[0], servers[2]]);
  assert.deepEqual(frodo.serversByIds(ids), ids.map((id) => rest.get(id)));
  assert.deepEqual(ids.map((id) => frodo.serverByIdSync(id)), ids.map((id) => rest.get(id)));
});
