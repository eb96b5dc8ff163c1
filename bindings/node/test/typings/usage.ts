// Compiled (not run) by typings.test.js: the README's uses of frodoio type-check against
// index.d.ts, and misuses do not.
import Frodo = require('../..');

async function main(): Promise<void> {
  const frodo = new Frodo({ context: 'appname', etcdServers: [{ host: '127.0.0.1', port: 2379 }, 'https://h:2379'] });
  await frodo.ready;
  const revision: number = await frodo.addServer('127.0.0.1:3030', { weight: 2, zone: 'a', meta: { k: 'v' } });
  frodo.serverById('someId', (server: string | null) => { void server; });
  const owner: string | null = await frodo.serverById('someId');
  const now: string | null = frodo.serverByIdSync('someId');
  const many: (string | null)[] = frodo.serversByIds(['a', 'b']);
  const top: string[] = frodo.owners('a', 2);
  const view: Frodo.View = frodo.view();
  frodo.on('change', (before: Frodo.View, after: Frodo.View) => { void before; void after; });
  frodo.on('leaseLost', (reason) => { const r: 'expired' | 'revoked' | 'unreachable' | 'closed' = reason; void r; });
  const guard = frodo.guard('127.0.0.1:3030');
  await guard.ready;
  const verdict = guard.admit('someId', frodo.revision);
  if (verdict.verdict === 'admit') verdict.done();
  await guard.leave();
  const removed: boolean = await frodo.removeServer('127.0.0.1:3030');
  await frodo.close();
  void [revision, owner, now, many, top, view, removed];
  // @ts-expect-error: ids are strings
  frodo.serverByIdSync(42);
  // @ts-expect-error: context is required
  new Frodo({ etcdServers: [] });
}
void main;
