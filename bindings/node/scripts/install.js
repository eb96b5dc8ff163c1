'use strict';
// npm's install step for frodoio: keeps build/frodo.node when it is there (scripts/setup in
// the frodo checkout builds it), else builds it with the checkout's CMake: the frodo library
// and the addon only, into ../../build/node-addon. Needs what scripts/setup installs (cmake,
// a C++ compiler, gRPC, Node's headers) and node-addon-api in bindings/node/node_modules.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const packageDir = path.resolve(__dirname, '..');
const addon = path.join(packageDir, 'build', 'frodo.node');
const checkout = path.resolve(packageDir, '..', '..');

function fail(message) {
  console.error(`frodoio install: ${message}`);
  process.exit(1);
}

if (fs.existsSync(addon)) process.exit(0);
if (!fs.existsSync(path.join(checkout, 'CMakeLists.txt'))) {
  fail(`${addon} is missing and ${checkout} is not a frodo checkout to build it from`);
}
if (!fs.existsSync(path.join(packageDir, 'node_modules', 'node-addon-api', 'napi.h'))) {
  fail(`node-addon-api is missing: run \`npm ci\` in ${packageDir} first (scripts/setup does)`);
}
const buildDir = path.join(checkout, 'build', 'node-addon');
const steps = [
  ['cmake', ['-S', checkout, '-B', buildDir, '-G', 'Ninja', '-DCMAKE_BUILD_TYPE=Release', '-DFRODO_BUILD_NODE=ON',
    '-DFRODO_BUILD_TESTS=OFF', '-DFRODO_BUILD_BENCH=OFF', '-DFRODO_BUILD_TOOLS=OFF']],
  ['cmake', ['--build', buildDir, '--target', 'frodo_node']],
];
for (const [tool, args] of steps) {
  const run = spawnSync(tool, args, { stdio: 'inherit' });
  if (run.error) fail(`could not run ${tool} (${run.error.message}): run scripts/setup in ${checkout}`);
  if (run.status !== 0) fail(`${tool} ${args.join(' ')} failed with exit code ${run.status}`);
}
if (!fs.existsSync(addon)) fail(`the build finished but ${addon} is not there`);
