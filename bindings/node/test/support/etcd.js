'use strict';
// A real single-member etcd for the tests: Debian's `etcd` on 127.0.0.1 with free ports and a
// temp data dir, stopped by its PID. Ports are picked by binding port 0; if etcd cannot take
// them (another process won the race), it is started again on new ones.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { waitFor } = require('./wait');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function healthy(url, ca) {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const request = get(`${url}/health`, { timeout: 1000, ca }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk.slice(0, 1000); });
      response.on('end', () => resolve(/"health":\s*"true"/.test(body)));
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => { request.destroy(); resolve(false); });
  });
}

class Etcd {
  // options.tls: { cert, key } (PEM files): clients then reach it over https:// only.
  static async start(options = {}) {
    for (let attempt = 1; ; attempt++) {
      const etcd = new Etcd();
      etcd.tls = options.tls;
      try {
        await etcd._start();
        return etcd;
      } catch (error) {
        await etcd.stop();
        if (attempt === 5) throw error;
      }
    }
  }

  async _start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frodoio-etcd-'));
    const client = await freePort();
    const peer = await freePort();
    this.port = client;
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${client}`;
    this.endpoint = `127.0.0.1:${client}`;
    this.log = '';
    const tlsFlags = this.tls ? [`--cert-file=${this.tls.cert}`, `--key-file=${this.tls.key}`] : [];
    this.process = spawn('etcd', [...tlsFlags,
      '--name=frodoio-test', `--data-dir=${path.join(this.dir, 'data')}`,
      `--listen-client-urls=${this.url}`, `--advertise-client-urls=${this.url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=frodoio-test=http://127.0.0.1:${peer}`, '--logger=zap', '--log-outputs=stderr',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process.stderr.setEncoding('utf8');
    this.process.stderr.on('data', (chunk) => { this.log = (this.log + chunk).slice(-20000); });
    this.exited = new Promise((resolve) => this.process.on('exit', resolve));
    this.process.on('error', (error) => { this.log += `\nspawn etcd: ${error.message}`; });
    let gone = false;
    this.exited.then(() => { gone = true; });
    await waitFor(async () => gone || await healthy(this.url, this.tls && this.tls.ca && fs.readFileSync(this.tls.ca)), 20000, () => `etcd at ${this.url} to become healthy`);
    if (gone) throw new Error(`etcd exited at start:\n${this.log}`);
  }

  // SIGSTOP/SIGCONT: etcd stops answering without closing its connections.
  pause() { this.process.kill('SIGSTOP'); }
  resume() { this.process.kill('SIGCONT'); }

  async stop() {
    if (this.process && this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGCONT');
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { Etcd, freePort };
