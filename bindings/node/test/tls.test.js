'use strict';
// etcd over TLS: an https:// etcdServers entry with the CA in tls.ca works end to end; without
// the CA (the system's roots) the connection is refused with a code. (The addon's gRPC runs
// inside Node, which carries its own OpenSSL: this is the proof that they live together.)
const test = require('node:test');
const assert = require('node:assert/strict');
const Frodo = require('..');
const { Etcd } = require('./support/etcd');
const { makeCerts } = require('./support/certs');

test('https:// etcd with tls.ca, and refused without it', async (t) => {
  const certs = makeCerts();
  t.after(() => certs.remove());
  const etcd = await Etcd.start({ tls: certs });
  t.after(() => etcd.stop());

  const frodo = new Frodo({ context: 'tls', etcdServers: [etcd.url], tls: { ca: certs.ca } });
  await frodo.ready;
  await frodo.addServer('127.0.0.1:9');
  assert.equal(await frodo.serverById('a'), '127.0.0.1:9');
  await frodo.close();

  const untrusted = new Frodo({ context: 'tls', etcdServers: [etcd.url], callTimeout: 1500 });
  await assert.rejects(untrusted.ready, (error) => ['unavailable', 'deadline_exceeded'].includes(error.code));
  await untrusted.close();

  assert.throws(() => new Frodo({ context: 'tls', etcdServers: [etcd.url], tls: { ca: 7 } }),
    (error) => error.code === 'invalid_argument' && /tls.ca must be a file path/.test(error.message));
});
