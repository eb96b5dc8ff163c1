'use strict';
// frodoio: entity affinity for distributed backends, frodo.io's API on frodo's C++ core.
//
//   const Frodo = require('frodoio');
//   const frodo = new Frodo({ context: 'appname', etcdServers: [{ host: '127.0.0.1', port: 2379 }] });
//   frodo.addServer('10.0.0.3:3030').then(() => frodo.serverById('someId', (server) => { ... }));
const { Frodo } = require('./lib/frodo');
const { Guard } = require('./lib/guard');

module.exports = Frodo;
module.exports.Frodo = Frodo;
module.exports.Guard = Guard;
