'use strict';
// Frodo: frodo.io's API over frodo's C++ Cluster (see README.md for the whole API).
const { EventEmitter } = require('node:events');
const { NativeCluster } = require('./addon');
const { clusterOptions } = require('./options');
const { frodoError, invalidArgument, describe } = require('./errors');
const { Guard } = require('./guard');

const noop = () => {};

// serversByIds works in chunks of this many ids, and refuses an id longer than
// MAX_ID_BYTES in UTF-8, as the single lookups do.
const BATCH_IDS = 65536;
const MAX_ID_BYTES = 1 << 20;

function tooLong(index, bytes) {
  return invalidArgument(`ids[${index}] is ${bytes} bytes long, more than the ${MAX_ID_BYTES} allowed`);
}

function newBatch() {
  return { bytes: Buffer.allocUnsafe(2 << 20), ends: new Uint32Array(BATCH_IDS), out: new Uint32Array(BATCH_IDS) };
}

// Writes ids[chunk.first, chunk.last) into chunk.batch: their UTF-8 back to back
// (Buffer.write converts as Node always does, so the bytes hashed are those of
// serverByIdSync and of hashring), and where each ends.
function encode(ids, chunk) {
  const batch = chunk.batch;
  let used = 0;
  for (let i = chunk.first; i < chunk.last; i++) {
    const id = ids[i];
    if (typeof id !== 'string') throw invalidArgument(`ids[${i}] must be a string, got ${describe(id)}`);
    if (used + 3 * id.length > batch.bytes.length) {
      if (id.length > MAX_ID_BYTES) throw tooLong(i, Buffer.byteLength(id));
      const grown = Buffer.allocUnsafe(Math.max(2 * batch.bytes.length, used + 3 * id.length));
      batch.bytes.copy(grown, 0, 0, used);
      batch.bytes = grown;
    }
    const written = batch.bytes.write(id, used);
    if (written > MAX_ID_BYTES) throw tooLong(i, written);
    used += written;
    batch.ends[i - chunk.first] = used;
  }
}

class Frodo extends EventEmitter {
  constructor(options) {
    super();
    const settings = clusterOptions(options);
    this._logger = options.logger;
    this._held = new Set();  // servers and guards that keep the process alive
    this._closing = null;
    this._owners = [];  // serverByIdSync's table of owner strings (see there)
    // serversByIds's two sets of buffers, kept between calls (it grows `bytes` for long ids).
    this._batches = [newBatch(), newBatch()];
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
    // The addon answers with the owner's place in a table of strings it shares with this
    // object, so a lookup makes no new string (and no garbage).
    const place = this._native.lookupIndex(id);
    if (place >= 0) return this._owners[place];
    if (place === -1) return null;
    this._owners = this._native.ownerTable();
    return this._owners[-2 - place];
  }

  // The owners of many ids at once, in the order of `ids` (null where no server is
  // registered). Each chunk of 65,536 ids is answered from one view (a change between
  // chunks shows in the later ones, as between serverByIdSync calls).
  serversByIds(ids) {
    if (!Array.isArray(ids)) throw invalidArgument(`ids must be an array, got ${describe(ids)}`);
    const count = ids.length;
    const owners = new Array(count);
    const native = this._native;
    // A pipeline: the addon looks one chunk up on a helper thread while this thread
    // encodes the next chunk and fills in the answers of the one before.
    let running = null;
    try {
      for (let first = 0; first < count || running !== null; first += BATCH_IDS) {
        let next = null;
        if (first < count) {
          next = running !== null && running.batch === this._batches[0] ? this._batches[1] : this._batches[0];
          next = { batch: next, first, last: Math.min(count, first + BATCH_IDS) };
          encode(ids, next);
        }
        let names = null;
        const done = running;
        if (done !== null) {
          running = null;
          names = native.finishLookup();
        }
        if (next !== null) {
          native.startLookup(next.batch.bytes, next.batch.ends, next.last - next.first, next.batch.out);
          running = next;
        }
        if (done !== null) {
          const out = done.batch.out;
          for (let i = done.first; i < done.last; i++) {
            const index = out[i - done.first];
            owners[i] = index === 0xffffffff ? null : names[index];
          }
        }
      }
    } finally {
      if (running !== null) native.finishLookup();
    }
    return owners;
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
    if (this._closing !== null) return Promise.reject(frodoError('failed_precondition', 'frodoio: this Frodo is closed'));
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
