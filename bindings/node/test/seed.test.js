'use strict';
// frodo.io's post ("How to Create a Data Cluster and Live Through It", BigPanda, 2014) shows
// three snippets. They run here as the post wrote them, in a vm context whose `require`
// gives them frodoio, q and underscore 1.6 (the 2014 version the server snippet's chain
// needs), with only these filled in:
// - the etcd host and port (left blank in the post);
// - the tokens the post's text lost (`Q.all([` ... `])`, `val.family`, the function bodies
//   the post cut), restored as the prose around them describes;
// - server addresses on loopback: tests register only 127.0.0.0/8 addresses, so the first
//   snippet's 'dataacess1:3030'... become local HTTP servers, and the server snippet's
//   `require('os')` reports one non-internal IPv4 address, on loopback.
// Each answer is checked against npm hashring@3.2.0, the ring frodo.io used.
const test = require('node:test');
const assert = require('node:assert/strict');
const vm = require('node:vm');
const HashRing = require('hashring');
const { Etcd } = require('./support/etcd');
const { waitFor } = require('./support/wait');
const { recordingServer, request } = require('./support/http');

const packages = { frodoio: require('..'), q: require('q'), underscore: require('underscore') };

// Runs `code` as a script with the given extra modules and globals; returns its context.
function run(code, { modules = {}, globals = {} } = {}) {
  const context = vm.createContext({
    require: (name) => {
      if (name in modules) return modules[name];
      if (name in packages) return packages[name];
      throw new Error(`the snippet asked for ${name}`);
    },
    request, console, ...globals,
  });
  vm.runInContext(code, context, { filename: 'snippet.js' });
  return context;
}

// A require('os') whose only non-internal IPv4 address is `ip` (on loopback).
function osWithAddress(ip) {
  return {
    networkInterfaces: () => ({
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }, { address: '::1', family: 'IPv6', internal: true }],
      eth0: [{ address: 'fe80::1', family: 'IPv6', internal: false }, { address: ip, family: 'IPv4', internal: false }],
    }),
  };
}

test("the seed's snippets run unchanged against frodoio", async (t) => {
  const etcd = await Etcd.start();
  t.after(() => etcd.stop());
  const servers = [];
  t.after(() => Promise.all(servers.map((s) => s.close())));

  await t.test('1: three servers added, then serverById with a callback', async () => {
    for (let i = 0; i < 3; i++) servers.push(await recordingServer('127.0.0.1'));
    const [a, b, c] = servers.map((s) => s.address);
    const snippet = run(`
      var Q = require('q');
      var Frodo = require('frodoio');
      var frodo = new Frodo({ context: 'appname', etcdServers: [ { host: '127.0.0.1', port: ${etcd.port} } ]});
      Q.all([frodo.addServer('${a}'), frodo.addServer('${b}'), frodo.addServer('${c}')]).then(function () {
        frodo.serverById('someId', function (server) {
          request.put('http://' + server + '/entity');
        });
      });
    `);
    const expected = new HashRing([a, b, c]).get('someId');
    const owner = servers.find((s) => s.address === expected);
    await waitFor(() => owner.puts.length === 1, 20000, `the PUT to ${expected}`);
    assert.deepEqual(owner.puts, ['/entity']);
    assert.equal(servers.reduce((sum, s) => sum + s.puts.length, 0), 1, 'one PUT in all');
    assert.deepEqual(request.errors, []);
    await snippet.frodo.close();  // its servers leave with its lease
  });

  await t.test('2 and 3: two server instances start, clients find them, servers stop', async () => {
    const serverCode = `
      var _ = require('underscore');
      var Frodo = require('frodoio');
      var frodo = new Frodo({ context: 'appname', etcdServers: [ { host: '127.0.0.1', port: ${etcd.port} } ]});

      var ip = _.chain(require('os').networkInterfaces()).flatten().filter(function(val){ return (val.family == 'IPv4' && val.internal == false) }).pluck('address').first().value();
      var me = ip + ':3030';

      function start(done) {
        frodo.addServer(me).then(function () {
          done();
        });
      }

      function stop(done) {
        frodo.removeServer(me).then(function () {
          done();
        });
      }
    `;
    // Two instances on two loopback addresses, each with an HTTP server on port 3030.
    const base = 2 + Math.floor(Math.random() * 200);
    const ips = [`127.0.0.${base}`, `127.0.0.${base + 1}`];
    const instances = [];
    for (const ip of ips) {
      servers.push(await recordingServer(ip, 3030));
      const instance = run(serverCode, { modules: { os: osWithAddress(ip) } });
      assert.equal(instance.me, `${ip}:3030`);
      await new Promise((done) => instance.start(done));
      instances.push(instance);
    }
    const addresses = ips.map((ip) => `${ip}:3030`);
    const ring = new HashRing(addresses);

    const clientCode = (id) => `
      var Frodo = require('frodoio');
      var frodo = new Frodo({ context: 'appname', etcdServers: [ { host: '127.0.0.1', port: ${etcd.port} } ]});

      frodo.serverById(id).then(function (server) {
        request.put('http://' + server + '/entity');
      });
    `;
    const ids = Array.from({ length: 20 }, (_, i) => `host-${i}`);
    const clients = ids.map((id) => run(clientCode(id), { globals: { id } }));
    const expected = new Map(addresses.map((address) => [address, ids.filter((id) => ring.get(id) === address).length]));
    assert.ok([...expected.values()].every((n) => n > 0), 'both servers own some of the ids');
    const recorder = (address) => servers.find((s) => s.address === address);
    await waitFor(() => addresses.every((address) => recorder(address).puts.length === expected.get(address)), 20000,
      () => `PUTs ${JSON.stringify([...expected])}`);
    await Promise.all(clients.map((client) => client.frodo.close()));

    for (const instance of instances) await new Promise((done) => instance.stop(done));
    // removeServer resolves once the remover's own view has lost its server; another
    // process's view follows the removal a moment later (each watches etcd on its own).
    await waitFor(() => instances.every((instance) => instance.frodo.servers().length === 0), 20000,
      () => `both servers stopped, in both views: ${JSON.stringify(instances.map((i) => i.frodo.servers()))}`);
    await Promise.all(instances.map((instance) => instance.frodo.close()));
  });
});
