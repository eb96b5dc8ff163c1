#!/usr/bin/env node
// frodoio's lookups against npm hashring@3.2.0's get, side by side in one run, at 1,000
// servers on distinct ids (each id is looked up once per pass, so hashring's LRU cache
// never hits, as in a stream of new entities).
//
//   node bench/node-lookup.js [--ids N] [--passes P]      (defaults: 1,000,000 ids, 3 passes)
//
// Starts a throwaway etcd on 127.0.0.1 (Debian's etcd, temp dir, free ports; stopped at the
// end), registers 1,000 loopback servers (persistent) in a Frodo, checks that every answer
// equals hashring's, then reports the best of P passes as ns per id for:
//   hashring.get(id)            the reference (frodo.io's ring)
//   frodo.serverByIdSync(id)    one call per id
//   frodo.serversByIds(ids)     one call for all ids
// with the ratios against hashring and of the batch against the loop. Needs scripts/setup
// (the addon, and hashring from bindings/node's devDependencies).
'use strict';

const path = require('node:path');
const packageDir = path.join(__dirname, '..', 'bindings', 'node');
const HashRing = require(path.join(packageDir, 'node_modules', 'hashring'));
const Frodo = require(packageDir);
const { Etcd } = require(path.join(packageDir, 'test', 'support', 'etcd'));

function parseArgs(argv) {
  const options = { ids: 1000000, passes: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!(name in options) || !Number.isInteger(value) || value < 1) {
      console.error('usage: node bench/node-lookup.js [--ids N] [--passes P]');
      process.exit(2);
    }
    options[name] = value;
  }
  return options;
}

// A full garbage collection before each timed pass, so that no pass pays for the garbage
// of the one before.
require('node:v8').setFlagsFromString('--expose-gc');
const collectGarbage = require('node:vm').runInNewContext('gc');

function best(passes, body) {
  let fastest = Infinity;
  let result;
  for (let p = 0; p < passes; p++) {
    result = undefined;
    collectGarbage();
    const start = process.hrtime.bigint();
    result = body();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - start));
  }
  return { ns: fastest, result };
}

async function main() {
  const { ids: count, passes } = parseArgs(process.argv.slice(2));
  const etcd = await Etcd.start();
  const frodo = new Frodo({ context: 'bench', etcdServers: [etcd.endpoint] });
  try {
    await frodo.ready;
    const servers = Array.from({ length: 1000 }, (_, i) => `127.0.${1 + (i >> 8)}.${i & 255}:8080`);
    for (let i = 0; i < servers.length; i += 50) {
      await Promise.all(servers.slice(i, i + 50).map((s) => frodo.addServer(s, { persistent: true })));
    }
    // Ids as they arrive in a service, parsed from a request body (flat strings; a template
    // literal would make rope strings that each side flattens on first read).
    const ids = JSON.parse(JSON.stringify(
      Array.from({ length: count }, (_, i) => `entity-${i}-${(i * 2654435761) % 4294967296}`)));
    const ring = new HashRing(servers);

    const reference = best(passes, () => {
      // A fresh ring per pass: its LRU cache must not answer from an earlier pass.
      const fresh = new HashRing(servers);
      const out = new Array(ids.length);
      for (let i = 0; i < ids.length; i++) out[i] = fresh.get(ids[i]);
      return out;
    });
    const single = best(passes, () => {
      const out = new Array(ids.length);
      for (let i = 0; i < ids.length; i++) out[i] = frodo.serverByIdSync(ids[i]);
      return out;
    });
    const batch = best(passes, () => frodo.serversByIds(ids));
    for (let i = 0; i < ids.length; i++) {
      const expected = ring.get(ids[i]);
      if (single.result[i] !== expected || batch.result[i] !== expected || reference.result[i] !== expected) {
        throw new Error(`answers differ for ${ids[i]}: hashring ${expected}, serverByIdSync ${single.result[i]}, ` +
          `serversByIds ${batch.result[i]}`);
      }
    }
    const per = (x) => x.ns / count;
    console.log(`${count} distinct ids, 1,000 servers, best of ${passes} passes; all answers equal hashring@3.2.0's`);
    console.log(`hashring.get            ${per(reference).toFixed(0).padStart(6)} ns/id`);
    console.log(`frodo.serverByIdSync    ${per(single).toFixed(0).padStart(6)} ns/id   ${(per(reference) / per(single)).toFixed(1)}x hashring`);
    console.log(`frodo.serversByIds      ${per(batch).toFixed(0).padStart(6)} ns/id   ${(per(reference) / per(batch)).toFixed(1)}x hashring, ` +
      `${(per(single) / per(batch)).toFixed(2)}x the serverByIdSync loop`);
  } finally {
    await frodo.close();
    await etcd.stop();
  }
}

main().catch((error) => {
  console.error(`node-lookup: ${error.stack || error}`);
  process.exit(1);
});
