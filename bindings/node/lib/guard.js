'use strict';
// Guard: frodo's ownership guard for one server of this process (see frodo's
// docs/ownership-guard.md). Made by frodo.guard(address); registers the server itself.
//
//   const guard = frodo.guard(me);
//   await guard.ready;
//   const a = guard.admit(id, clientRevision);
//   if (a.verdict === 'admit') { await store.write(id, event, a.token); a.done(); }
//
// admit() never blocks the JS thread: a server behind the client's revision answers wait
// ('behind client') at once unless catchUpMs is given. Before `ready`, it answers wait
// ('not registered'); after close() or leave(), wait ('closed').
const { NativeGuard } = require('./addon');

const noop = () => {};

class Guard {
  constructor(frodo, address, options) {
    this.address = address;
    this._native = null;
    this._frodo = frodo;
    this.ready = frodo.ready.then(() => {
      this._native = new NativeGuard(frodo._native, address, options || {});
      frodo._hold(this);
      return this._native.open();
    }).then(() => this, (error) => {
      frodo._release(this);
      throw error;
    });
    this.ready.catch(noop);  // reported to whoever awaits it
  }

  // { verdict: 'admit' | 'redirect' | 'wait', owner, revision, token, reason, done() }
  admit(id, clientRevision) {
    if (this._native === null) {
      this._frodo._checkId(id);
      return { verdict: 'wait', owner: this.address, revision: 0, token: 0, reason: 'not registered', done: noop };
    }
    const result = this._native.admit(id, clientRevision);
    const handle = result.handle;
    if (handle === undefined) {
      result.done = noop;
    } else {
      delete result.handle;
      const native = this._native;
      result.done = () => native.end(handle);
    }
    return result;
  }

  // { admitted, redirected, waited, releases, epoch, released, settled, unsettled }
  stats() {
    return this._native === null ? null : this._native.stats();
  }

  // The graceful exit: drains, publishes the release, removes the server. → Promise
  leave(timeoutMs = 10000) {
    return this.ready.then(() => this._native.leave(timeoutMs)).finally(() => this._frodo._release(this));
  }
}

module.exports = { Guard };
