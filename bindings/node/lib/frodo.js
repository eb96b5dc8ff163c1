'use strict';
// Frodo: frodo.io's API over frodo's C++ Cluster (see README.md for the whole API).
const { EventEmitter } = require('node:events');
const { NativeCluster } = require('./addon');
const { clusterOptions } = require('./options');
const { invalidArgument, describe } = require('./errors');
const { Guard } = require('./guard');

const noop = () => {};

class Frodo extends EventEmitter {
  constructor(options) {
    super();
    const settings = clusterOptions(options);
    this._logger = options.logger;
    this._held = new Set();  // servers and guards that keep the process alive
    this._closing = null;
    this._native = new NativeCluster(settings, (kind, a, b) => this._event(kind, a, b), this._logger !== undefined);
    // Resolves once the first view of the context is loaded; rejects if etcd cannot be
    // reached (also emitted as 'error' when someone listens for it).
    this.ready = this._native.open().then(() => this, (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
      throw error;
    });
    this.ready.catch(noop);  // reported to whoever awaits it
  }

  // Registers `address` on this process's lease (unless persistent) and resolves with the
  // revision of the write once this process's own view holds it.
  addServer(address, options) {
    return this._whenOpen().then(() => {
      const persistent = options !== undefined && options !== null && options.persistent === true;
      const key = `server ${address}`;
      if (!persistent) this._hold(key);
      return this._native.add(address, options).catch((error) => {
        if (!persistent) this._release(key);
        throw error;
      });
    });
  }

  // Resolves with whether it was registered (by anyone), once this process's view no
  // longer holds it.
  removeServer(address) {
    return this._whenOpen().then(() => this._native.remove(address)).then((removed) => {
      this._release(`server ${address}`);
      return removed;
    });
  }

  // frodo.io's lookup: serverById(id, function (server) {...}), or serverById(id) → Promise.
  // The server is null when none is registered. Waits for the first view.
  serverById(id, callback) {
    if (callback !== undefined && typeof callback !== 'function') {
      throw invalidArgument(`serverById: the callback must be a function, got ${describe(callback)}`);
    }
    const promise = this._whenOpen().then(() => this._native.lookup(id));
    if (callback === undefined) return promise;
    return promise.then((server) => {
      callback(server);
      return server;
    });
  }

  // The owner now, from this process's view: a string, or null when no server is registered.
  // Throws before `ready`.
  serverByIdSync(id) {
    return this._native.lookup(id);
  }

  // The owners of many ids at once, in the order of `ids`.
  serversByIds(ids) {
    return this._native.lookupMany(ids);
  }

  // Up to n distinct servers in preference order (servers in new zones first).
  owners(id, n) {
    return this._native.owners(id, n);
  }

  // Whether the owner of `id` is a server this process registered.
  owns(id) {
    return this._native.owns(id);
  }

  // [{ address, weight, zone, meta, created, lease }], sorted by address.
  servers() {
    return this._native.view().servers;
  }

  // { servers, revision, checksum, restarts }
  view() {
    return this._native.view();
  }

  get revision() {
    return this._native.revision();
  }

  get checksum() {
    return this._native.checksum();
  }

  leaseAlive() {
    return this._native.leaseAlive();
  }

  guard(address, options) {
    return new Guard(this, address, options);
  }

  // Ends the guards, revokes the lease (this process's servers leave at once) and stops
  // watching. After it, nothing keeps the process alive. Idempotent.
  close() {
    if (this._closing === null) {
      this._closing = this.ready.catch(noop).then(() => this._native.close()).then(() => {
        this._held.clear();
      });
    }
    return this._closing;
  }

  _whenOpen() {
    if (this._closing !== null) return Promise.reject(invalidArgument('frodoio: this Frodo is closed'));
    return this.ready;
  }

  _checkId(id) {
    if (typeof id !== 'string') throw invalidArgument(`id must be a string, got ${describe(id)}`);
  }

  _hold(what) {
    this._held.add(what);
    if (this._held.size === 1) this._native.ref();
  }

  _release(what) {
    if (this._held.delete(what) && this._held.size === 0) this._native.unref();
  }

  _event(kind, a, b) {
    if (kind === 'change') {
      this.emit('change', a, b);
    } else if (kind === 'leaseLost') {
      this.emit('leaseLost', a);
    } else if (kind === 'warning' && this._logger) {
      this._logger(a);
    }
  }
}

module.exports = { Frodo };
