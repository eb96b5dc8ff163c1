// Writes the ketama compatibility vectors (JSON Lines) from node-hashring 3.2.0, the ring
// frodo.io used. Run through generate-hashring-vectors.sh, which installs that exact version
// into a scratch folder. Output is deterministic: the same file on every run.
'use strict';
const HashRing = require('hashring');

if (HashRing.version !== '3.2.0') throw new Error('need hashring 3.2.0, have ' + HashRing.version);

// mulberry32: small deterministic PRNG so the vectors never change between runs.
function prng(seed) {
  return function () {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(20141124);
const pick = (a) => a[Math.floor(rand() * a.length)];

function address(i, style) {
  switch (style % 4) {
    case 0: return `10.0.${i >> 8}.${i & 255}:3030`;
    case 1: return `data-access-${i}.example.net:${4000 + i}`;
    case 2: return `[fd00::${i.toString(16)}]:3030`;
    default: return `node${i}:${1 + ((i * 7919) % 65535)}`;
  }
}

const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@ ';
const unicode = ['é', 'ß', 'ü', '日本', 'данные', 'Ωμέγα', '🙂', '𝄞', '\u00a0', '中文主机', 'עברית'];
function ids(count) {
  const out = ['', 'someId', 'host-1', 'DOWN', ' ', '\t', 'a'.repeat(1000), 'x'.repeat(10000)];
  while (out.length < count) {
    const kind = rand();
    let s = '';
    if (kind < 0.5) {
      const len = 1 + Math.floor(rand() * 40);
      for (let i = 0; i < len; i++) s += pick(alphabet);
    } else if (kind < 0.7) {
      s = 'host-' + Math.floor(rand() * 1e6);
    } else if (kind < 0.97) {
      const len = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < len; i++) s += rand() < 0.5 ? pick(unicode) : pick(alphabet);
    } else {
      const len = 200 + Math.floor(rand() * 1000);
      for (let i = 0; i < len; i++) s += rand() < 0.1 ? pick(unicode) : pick(alphabet);
    }
    out.push(s);
  }
  return out;
}

// Exact share of the 32-bit key space per server: a key h goes to the first point >= h.
function spread(ring) {
  const share = {};
  for (const s of ring.servers) share[s.string] = 0;
  const pts = ring.ring;
  for (let i = 0; i < pts.length; i++) {
    const prev = i === 0 ? pts[pts.length - 1].value - 4294967296 : pts[i - 1].value;
    share[pts[i].server] += pts[i].value - prev;
  }
  const values = Object.values(share);
  const mean = 4294967296 / values.length;
  return Math.max(...values) / mean;
}

function emit(name, servers, idCount, withSpread) {
  // Sorted by address: node's sort is stable, so equal points keep insertion order, and
  // frodo orders equal points by address. Both then agree whatever order a user adds.
  servers.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const spec = {};
  for (const s of servers) spec[s.address] = s.weight;
  const ring = new HashRing(spec);
  const points = {};
  for (const [k, v] of Object.entries(ring.points())) points[k] = v.length;
  const queries = ids(idCount).map((id) => ({
    id,
    get: ring.get(id),
    range3: ring.range(id, 3),
    rangeAll: servers.length <= 10 ? ring.range(id, servers.length + 2) : undefined,
  }));
  const record = { name, servers, points, queries };
  if (withSpread) record.peakToMean = spread(ring);
  process.stdout.write(JSON.stringify(record) + '\n');
}

const equal = (n, style) => Array.from({ length: n }, (_, i) => ({ address: address(i + 1, style), weight: 1 }));

for (const [n, style] of [[1, 0], [2, 1], [3, 2], [5, 3], [7, 0], [8, 1], [10, 0], [14, 3], [49, 1],
                          [100, 0], [103, 2], [300, 1]]) {
  emit(`equal-${n}`, equal(n, style), n >= 100 ? 400 : 250, false);
}
emit('weighted-1234', [1, 2, 3, 4].map((w, i) => ({ address: address(i + 1, 0), weight: w })), 300, false);
emit('weighted-random-20', Array.from({ length: 20 }, (_, i) => ({ address: address(i + 1, 3), weight: 1 + Math.floor(rand() * 10) })), 300, false);
emit('weighted-fractional-7', [0.5, 1.5, 2.25, 1, 3, 0.75, 1].map((w, i) => ({ address: address(i + 1, 1), weight: w })), 300, false);
emit('weighted-skewed', [{ address: 'big:1', weight: 100 }, { address: 'small:2', weight: 1 }, { address: 'tiny:3', weight: 0.01 }], 200, false);
emit('weighted-random-50', Array.from({ length: 50 }, (_, i) => ({ address: address(i + 1, 2), weight: Math.round((0.25 + rand() * 4) * 100) / 100 })), 300, false);
for (const n of [10, 100, 1000]) emit(`spread-${n}`, equal(n, 0), 50, true);
