'use strict';
// Bad input to the constructor and the calls: an Error with a code, naming the bad value.
const test = require('node:test');
const assert = require('node:assert/strict');
const Frodo = require('..');
const { Etcd } = require('./support/etcd');

function rejectsWith(code, pattern) {
  return (error) => {
    assert.ok(error instanceof Error, `${error} is an Error`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

test('bad constructor options throw an Error naming the value', () => {
  const endpoint = ['127.0.0.1:2379'];
  assert.throws(() => new Frodo({ context: '../x', etcdServers: endpoint }), rejectsWith('invalid_argument', /\.\.\/x/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: [] }), rejectsWith('invalid_argument', /etcdServers is empty/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: [{ host: '', port: 4001 }] }),
    rejectsWith('invalid_argument', /etcdServers\[0\]\.host/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: [{ host: 'h', port: 70000 }] }),
    rejectsWith('invalid_argument', /port .*70000/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: ['ftp://h:1'] }), rejectsWith('invalid_argument', /ftp/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: 'h:1' }), rejectsWith('invalid_argument', /must be an array/));
  assert.throws(() => new Frodo({ context: 7 }), rejectsWith('invalid_argument', /context must be a string/));
  assert.throws(() => new Frodo({ context: 'app', etcdServer: endpoint }), rejectsWith('invalid_argument', /unknown option "etcdServer"/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: endpoint, ttl: 0 }), rejectsWith('invalid_argument', /ttl/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: endpoint, connectTimeout: -1 }),
    rejectsWith('invalid_argument', /connectTimeout must be a whole number of ms from 0 to 3600000, got number -1/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: endpoint, algorithm: 'rendezvous' }),
    rejectsWith('invalid_argument', /rendezvous/));
  assert.throws(() => new Frodo({ context: 'app', etcdServers: endpoint, tls: { cert: '/c.pem' } }),
    rejectsWith('invalid_argument', /tls.cert and tls.key/));
  assert.throws(() => new Frodo(null), rejectsWith('invalid_argument', /options must be an object/));
});

test('bad calls reject (or throw, for the synchronous ones) with invalid_argument', async (t) => {
  const etcd = await Etcd.start();
  t.after(() => etcd.stop());
  const frodo = new Frodo({ context: 'bad-calls', etcdServers: [etcd.url] });
  t.after(() => frodo.close());
  await frodo.ready;
  await assert.rejects(frodo.addServer('no-port'), rejectsWith('invalid_argument', /no-port/));
  await assert.rejects(frodo.addServer('127.0.0.1:0'), rejectsWith('invalid_argument', /127\.0\.0\.1:0/));
  await assert.rejects(frodo.addServer(42), rejectsWith('invalid_argument', /address must be a string/));
  await assert.rejects(frodo.addServer('127.0.0.1:1', { weight: -1 }), rejectsWith('invalid_argument', /weight/));
  await assert.rejects(frodo.addServer('127.0.0.1:1', { meta: { a: 1 } }), rejectsWith('invalid_argument', /meta\['a'\]/));
  await assert.rejects(frodo.serverById(42), rejectsWith('invalid_argument', /id must be a string, got a number/));
  await assert.rejects(frodo.serverById({}), rejectsWith('invalid_argument', /id must be a string, got an object/));
  assert.throws(() => frodo.serverByIdSync(undefined), rejectsWith('invalid_argument', /id must be a string/));
  assert.throws(() => frodo.serversByIds(['a', 3]), rejectsWith('invalid_argument', /ids\[1\] must be a string/));
  assert.throws(() => frodo.serversByIds('a'), rejectsWith('invalid_argument', /ids must be an array/));
  assert.throws(() => frodo.owners('a', -1), rejectsWith('invalid_argument', /n must be a whole number/));
  assert.throws(() => frodo.serverById('a', 'not a function'), rejectsWith('invalid_argument', /callback must be a function/));
  assert.throws(() => frodo.serverByIdSync('x'.repeat(2 << 20)), rejectsWith('invalid_argument', /more than the 1048576 allowed/));
  // Nothing above registered anything.
  assert.deepEqual(frodo.servers(), []);
});

test('an unreachable etcd rejects ready with a code', async () => {
  const frodo = new Frodo({ context: 'nowhere', etcdServers: ['127.0.0.1:1'], callTimeout: 500 });
  await assert.rejects(frodo.ready, (error) => ['unavailable', 'deadline_exceeded'].includes(error.code));
  await assert.rejects(frodo.serverById('a'), (error) => ['unavailable', 'deadline_exceeded'].includes(error.code));
  await frodo.close();
});

test('a connect deadline that passes rejects ready with unavailable', async () => {
  const frodo = new Frodo({ context: 'nowhere', etcdServers: ['127.0.0.1:1'], callTimeout: 200, connectTimeout: 600 });
  await assert.rejects(frodo.ready, (error) => error.code === 'unavailable' && /127\.0\.0\.1:1/.test(error.message));
  await frodo.close();
});
