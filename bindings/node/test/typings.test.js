'use strict';
// index.d.ts type-checks the README's uses (test/typings/usage.ts) with TypeScript's tsc.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('index.d.ts describes the API', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--types', 'node', '--module', 'commonjs',
    '--target', 'es2022', path.join(__dirname, 'typings', 'usage.ts')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
