'use strict';
// Loads the compiled addon: $FRODOIO_ADDON if set (the tests point it at a build), else
// build/frodo.node beside this package (scripts/setup, or `npm install`, builds it there).
const path = require('node:path');
const fs = require('node:fs');

const file = process.env.FRODOIO_ADDON || path.join(__dirname, '..', 'build', 'frodo.node');
if (!fs.existsSync(file)) {
  const error = new Error(`frodoio: the addon ${file} is not built: run scripts/setup in the frodo checkout, ` +
    'or `npm run install` in its bindings/node');
  error.code = 'internal';
  throw error;
}
module.exports = require(file);
