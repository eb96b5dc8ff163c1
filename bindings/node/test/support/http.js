'use strict';
// Loopback HTTP servers that record the PUTs they receive, and the `request.put` the seed's
// snippets call (frodo.io's post used the npm `request` package; this is the same call over
// Node's http module, so the snippets run as written).
const http = require('node:http');

// Listens on host:port (port 0: any free port); resolves with { address, puts, close() }.
function recordingServer(host, port = 0) {
  return new Promise((resolve, reject) => {
    const puts = [];
    const server = http.createServer((request, response) => {
      if (request.method === 'PUT') puts.push(request.url);
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    server.on('error', reject);
    server.listen(port, host, () => {
      resolve({ address: `${host}:${server.address().port}`, puts, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

const request = {
  put(url) {
    const call = http.request(url, { method: 'PUT' }, (response) => response.resume());
    call.on('error', (error) => { request.errors.push(`${url}: ${error.message}`); });
    call.end();
  },
  errors: [],
};

module.exports = { recordingServer, request };
