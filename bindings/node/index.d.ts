// Type declarations of frodoio (see README.md).
import { EventEmitter } from 'node:events';

declare namespace Frodo {
  /** An etcd member: { host, port }, 'host:port', or a URL ('https://' is TLS). */
  type EtcdServer = { host: string; port: number | string } | string;

  interface Options {
    /** The application's name: [A-Za-z0-9._-]{1,128}. */
    context: string;
    /** Default: $FRODO_ETCD (comma-separated), else 127.0.0.1:2379. */
    etcdServers?: EtcdServer[];
    /** Lease TTL in seconds (default 5): a dead process's servers leave within it. */
    ttl?: number;
    /** Key prefix (default '/frodo'): keys are <prefix>/<context>/servers/<address>. */
    prefix?: string;
    algorithm?: 'ketama' | 'maglev';
    /** Every etcd call gives up after this many ms (default 5000). */
    callTimeout?: number;
    /** How long ready waits for etcd to come up (ms, default 0: one attempt) and a
     *  registration waits for a lost lease's re-grant. */
    connectTimeout?: number;
    maxValueBytes?: number;
    maxReceiveBytes?: number;
    /** PEM files: the CA of etcd's certificates, and a client certificate with its key. */
    tls?: { ca?: string; cert?: string; key?: string };
    user?: string;
    password?: string;
    /** Warnings (skipped foreign records, etcd retries), on the JS thread; default: stderr. */
    logger?: (message: string) => void;
  }

  interface ServerOptions {
    weight?: number;
    zone?: string;
    meta?: Record<string, string>;
    /** No lease: stays until removeServer. */
    persistent?: boolean;
  }

  interface Server {
    address: string;
    weight: number;
    zone: string;
    meta: Record<string, string>;
    /** The etcd revision that created the record. */
    created: number;
    /** The lease it hangs on, in hex ('0': persistent). */
    lease: string;
  }

  interface View {
    servers: Server[];
    revision: number;
    checksum: string;
    restarts: number;
  }

  type ErrorCode = 'invalid_argument' | 'unavailable' | 'deadline_exceeded' | 'unauthenticated' |
    'permission_denied' | 'lease_lost' | 'failed_precondition' | 'internal';

  interface FrodoError extends Error {
    code: ErrorCode;
  }

  interface Verdict {
    verdict: 'admit' | 'redirect' | 'wait';
    /** redirect: the owner in this server's view; otherwise this server. */
    owner: string;
    revision: number;
    /** The fencing token (0 unless admitted). */
    token: number;
    /** wait: why ('handoff', 'lease expired', 'leaving', 'behind client', 'not registered', 'closed'...). */
    reason: string;
    /** Ends the admission (idempotent; a no-op unless admitted). */
    done(): void;
  }

  interface GuardOptions extends Omit<ServerOptions, 'persistent'> {
    /** How long admit() may block the JS thread for this server's view to reach a client's revision (default 0). */
    catchUpMs?: number;
    releaseTimeoutMs?: number;
  }

  interface GuardStats {
    admitted: number;
    redirected: number;
    waited: number;
    releases: number;
    epoch: number;
    released: number;
    settled: boolean;
    unsettled: number;
  }

  class Guard {
    readonly address: string;
    readonly ready: Promise<Guard>;
    admit(id: string, clientRevision?: number): Verdict;
    stats(): GuardStats | null;
    leave(timeoutMs?: number): Promise<void>;
  }
}

declare class Frodo extends EventEmitter {
  constructor(options: Frodo.Options);
  /** Resolves once the first view of the context is loaded. */
  readonly ready: Promise<Frodo>;
  readonly revision: number;
  readonly checksum: string;

  addServer(address: string, options?: Frodo.ServerOptions): Promise<number>;
  removeServer(address: string): Promise<boolean>;
  serverById(id: string): Promise<string | null>;
  serverById(id: string, callback: (server: string | null) => void): Promise<string | null>;
  serverByIdSync(id: string): string | null;
  serversByIds(ids: string[]): (string | null)[];
  owners(id: string, n: number): string[];
  owns(id: string): boolean;
  servers(): Frodo.Server[];
  view(): Frodo.View;
  leaseAlive(): boolean;
  guard(address: string, options?: Frodo.GuardOptions): Frodo.Guard;
  close(): Promise<void>;

  on(event: 'change', listener: (before: Frodo.View, after: Frodo.View) => void): this;
  on(event: 'leaseLost', listener: (reason: 'expired' | 'revoked' | 'unreachable' | 'closed') => void): this;
  on(event: 'error', listener: (error: Frodo.FrodoError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;

  static Frodo: typeof Frodo;
}

export = Frodo;
