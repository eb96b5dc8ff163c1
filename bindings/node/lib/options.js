'use strict';
// The options of new Frodo(...), checked and turned into what the addon takes.
//
// frodo.io's form is accepted as it was: { context, etcdServers: [{ host, port }] }. An etcd
// server may also be 'host:port' or a URL ('http://host:port', 'https://host:port' = TLS).

const { invalidArgument, describe } = require('./errors');

const known = new Set([
  'context', 'etcdServers', 'ttl', 'prefix', 'algorithm', 'callTimeout', 'connectTimeout', 'maxValueBytes',
  'maxReceiveBytes', 'tls', 'user', 'password', 'logger',
]);

function etcdEndpoint(server, index) {
  const where = `etcdServers[${index}]`;
  if (typeof server === 'string') {
    const text = server.trim().replace(/\/+$/, '');
    if (text === '') throw invalidArgument(`${where} is empty: give 'host:port' or a URL`);
    return text;
  }
  if (server === null || typeof server !== 'object' || Array.isArray(server)) {
    throw invalidArgument(`${where} must be { host, port }, 'host:port' or a URL, got ${describe(server)}`);
  }
  const { host, port } = server;
  if (typeof host !== 'string' || host === '') {
    throw invalidArgument(`${where}.host must be a host name or address, got ${describe(host)}`);
  }
  const number = typeof port === 'string' && /^[0-9]+$/.test(port) ? Number(port) : port;
  if (!Number.isInteger(number) || number < 1 || number > 65535) {
    throw invalidArgument(`${where}.port must be a port number (1-65535), got ${describe(port)}`);
  }
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${bracketed}:${number}`;
}

function clusterOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgument(`new Frodo(options): options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalidArgument(`unknown option ${describe(key)} (known: ${[...known].join(', ')})`);
  }
  if (typeof options.context !== 'string') {
    throw invalidArgument(`context must be a string (your application's name), got ${describe(options.context)}`);
  }
  let servers = options.etcdServers;
  if (servers === undefined) {
    servers = process.env.FRODO_ETCD ? process.env.FRODO_ETCD.split(',') : ['127.0.0.1:2379'];
  }
  if (!Array.isArray(servers)) {
    throw invalidArgument(`etcdServers must be an array, got ${describe(servers)}`);
  }
  if (servers.length === 0) throw invalidArgument('etcdServers is empty: give at least one etcd member');
  if (servers.length > 1000) throw invalidArgument(`etcdServers has ${servers.length} entries, more than 1000`);
  const result = { context: options.context, endpoints: servers.map(etcdEndpoint) };
  for (const [name, target] of [['ttl', 'ttl'], ['callTimeout', 'callTimeoutMs'],
    ['maxValueBytes', 'maxValueBytes'], ['maxReceiveBytes', 'maxReceiveBytes']]) {
    const value = options[name];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value <= 0) {
      throw invalidArgument(`${name} must be a positive whole number, got ${describe(value)}`);
    }
    result[target] = value;
  }
  if (options.connectTimeout !== undefined) {
    const value = options.connectTimeout;
    if (!Number.isInteger(value) || value < 0 || value > 3600 * 1000) {
      throw invalidArgument(`connectTimeout must be a whole number of ms from 0 to 3600000, got ${describe(value)}`);
    }
    result.connectTimeoutMs = value;
  }
  for (const name of ['prefix', 'algorithm', 'user', 'password']) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw invalidArgument(`${name} must be a string, got ${describe(value)}`);
    result[name] = value;
  }
  if (options.algorithm !== undefined && !['ketama', 'maglev'].includes(options.algorithm)) {
    throw invalidArgument(`algorithm must be 'ketama' or 'maglev', got ${describe(options.algorithm)}`);
  }
  if (options.tls !== undefined) {
    const tls = options.tls;
    if (tls === null || typeof tls !== 'object' || Array.isArray(tls)) {
      throw invalidArgument(`tls must be { ca, cert, key } (file paths), got ${describe(tls)}`);
    }
    for (const key of Object.keys(tls)) {
      if (!['ca', 'cert', 'key'].includes(key)) throw invalidArgument(`unknown tls option ${describe(key)} (known: ca, cert, key)`);
      if (typeof tls[key] !== 'string') throw invalidArgument(`tls.${key} must be a file path, got ${describe(tls[key])}`);
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw invalidArgument('tls.cert and tls.key go together: give both or neither');
    }
    result.tls = { ca: tls.ca, cert: tls.cert, key: tls.key };
  }
  if (options.logger !== undefined && typeof options.logger !== 'function') {
    throw invalidArgument(`logger must be a function (message) => ..., got ${describe(options.logger)}`);
  }
  return result;
}

module.exports = { clusterOptions };
