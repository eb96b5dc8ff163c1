'use strict';
// Child processes of the tests: started here, read line by line, signalled and reaped by PID.
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const { waitFor } = require('./wait');

class Child {
  constructor(command, args) {
    this.lines = [];
    this.stderr = '';
    this.process = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = this.process.pid;
    readline.createInterface({ input: this.process.stdout }).on('line', (line) => this.lines.push(line));
    this.process.stderr.setEncoding('utf8');
    this.process.stderr.on('data', (chunk) => { this.stderr = (this.stderr + chunk).slice(-10000); });
    this.exit = null;
    this.exited = new Promise((resolve) => this.process.on('exit', (code, signal) => {
      this.exit = { code, signal };
      resolve(this.exit);
    }));
  }

  // The first line matching `pattern` (waiting up to timeoutMs for it).
  async line(pattern, timeoutMs = 20000) {
    let found;
    await waitFor(() => {
      found = this.lines.find((line) => pattern.test(line));
      return found !== undefined || this.exit !== null;
    }, timeoutMs, () => `a line matching ${pattern} from ${this.pid}; stderr: ${this.stderr}`);
    if (found === undefined) throw new Error(`${this.pid} exited ${JSON.stringify(this.exit)} first: ${this.stderr}`);
    return found;
  }

  kill(signal) {
    if (this.exit === null) this.process.kill(signal);
  }

  async stop() {
    this.kill('SIGKILL');
    await this.exited;
  }
}

module.exports = { Child };
