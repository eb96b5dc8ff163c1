'use strict';
// A throwaway CA and a server certificate for 127.0.0.1, made with the openssl command
// (scripts/setup installs it) in a temp dir.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frodoio-certs-'));
  const file = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'),
    '-days', '2', '-subj', '/CN=frodoio test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'),
    '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('ext.cnf'));
  return { dir, ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

module.exports = { makeCerts };
