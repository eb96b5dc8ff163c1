#!/usr/bin/env node
// node-hashring's side of bench/compare-hashring: the reference answers and its lookup speed.
//
//   NODE_PATH=DIR/node_modules node bench/hashring-lookup.js [--passes N] SERVERS_FILE < IDS > OWNERS
//
// SERVERS_FILE has one address per line; they are given to `new HashRing(servers)` with
// default options, sorted ascending, as an array of strings. Ids are read from stdin as
// UTF-8, one per line without the '\n', and ring.get(id) is printed for each, in order. The
// time of the lookup loop alone (ids already in memory) goes to stderr as ns/lookup: the best
// of N passes over all ids (default 1, so a wall-clock run does the same work as one
// `frodo ring lookup`; frodo_lookup_file reports the best of 3, so compare with --passes 3).
'use strict';

const fs = require('fs');
const HashRing = require('hashring');

// A final '\n' ends the last line rather than starting an empty one.
function lines_of(text) {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function main() {
  const args = process.argv.slice(2);
  let passes = 1;
  if (args.length === 3 && args[0] === '--passes') passes = Number(args.splice(0, 2)[1]);
  if (args.length !== 1 || !Number.isInteger(passes) || passes < 1) {
    process.stderr.write('usage: node hashring-lookup.js [--passes N] SERVERS_FILE < IDS\n');
    process.exit(2);
  }
  const servers = lines_of(fs.readFileSync(args[0], 'utf8'))
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .sort();
  const ring = new HashRing(servers);
  const ids = lines_of(fs.readFileSync(0, 'utf8'));

  const owners = new Array(ids.length);
  let best_ns = Infinity;
  for (let pass = 0; pass < passes; ++pass) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ids.length; ++i) owners[i] = ring.get(ids[i]);
    const ns = Number(process.hrtime.bigint() - start) / ids.length;
    best_ns = Math.min(best_ns, ns);
  }
  process.stderr.write(`node-hashring servers=${servers.length} ids=${ids.length} passes=${passes} ns/lookup=${best_ns.toFixed(1)}\n`);

  // One write of the whole answer: a million small writes would time node's stream layer.
  process.stdout.write(owners.join('\n') + (owners.length > 0 ? '\n' : ''));
}

main();
