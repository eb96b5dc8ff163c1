'use strict';
// A real etcd and a Frodo on it for one test, both closed when the test ends.
const Frodo = require('../..');
const { Etcd } = require('./etcd');

async function openFrodo(t, context, options = {}) {
  const etcd = await Etcd.start();
  const frodo = new Frodo({ context, etcdServers: [etcd.endpoint], ...options });
  t.after(async () => {
    await frodo.close();
    await etcd.stop();
  });
  await frodo.ready;
  return { etcd, frodo };
}

module.exports = { openFrodo };
