/**
 * A tiny TCP ↔ unix-socket relay that lets node namespaces reach the test apiserver WITHOUT any address
 * or route in the root namespace: a unix socket is a file, and files are shared across network
 * namespaces while interfaces are not.
 *
 *   root namespace (test process):  unix socket PATH  ──►  127.0.0.1:APIPORT (the real apiserver)
 *   node namespace (this file run): 127.0.0.1:APIPORT ──►  unix socket PATH
 *
 * The apiserver certificate's SAN is 127.0.0.1, so a kubeconfig saying `https://127.0.0.1:APIPORT` works
 * unchanged inside a node namespace: TLS passes through the relay end to end. Killing the node-side
 * relay process makes the apiserver unreachable from that node (connections reset, new ones refused).
 *
 * Run as a program (inside a namespace):
 *   node --import tsx test/netlab/relay.ts --listen 127.0.0.1:PORT --unix PATH
 * The reverse direction (the lab's control-plane namespace, whose apiserver the root namespace reaches through a
 * unix socket): listen on the socket, connect to HOST:PORT inside the namespace:
 *   node --import tsx test/netlab/relay.ts --unix PATH --connect 127.0.0.1:6443
 * It prints `relay ready` on stdout once listening and relays until killed.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Pipes two sockets both ways; either one ending or failing closes the other (errors are never thrown). */
export function splice(a: Socket, b: Socket): void {
  const close = (): void => { a.destroy(); b.destroy(); };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
  a.pipe(b);
  b.pipe(a);
}

/** A running relay listener; close() stops listening and cuts every relayed connection. */
export interface Relay {
  close(): Promise<void>;
  /** Connections currently relayed. */
  readonly active: number;
}

function relayServer(connect: () => Socket): { server: Server; relay: Relay } {
  const open = new Set<Socket>();
  const server = createServer((inbound) => {
    inbound.on('error', () => undefined); // listener at once; splice() adds the closing one
    const outbound = connect();
    outbound.on('error', () => undefined);
    open.add(inbound);
    inbound.once('close', () => open.delete(inbound));
    splice(inbound, outbound);
  });
  server.on('error', () => undefined);
  const relay: Relay = {
    get active() { return open.size; },
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => { resolve(); });
    }),
  };
  return { server, relay };
}

/**
 * The root-namespace side, run in the test process: listens on the unix socket `path` and pipes each
 * connection to `host:port` (the apiserver on loopback). Resolves once listening.
 */
export function relayUnixToTcp(path: string, port: number, host = '127.0.0.1'): Promise<Relay> {
  rmSync(path, { force: true });
  const { server, relay } = relayServer(() => createConnection({ host, port }));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(relay); });
  });
}

/** The node-namespace side: listens on `host:port` and pipes each connection to the unix socket `path`. */
export function relayTcpToUnix(host: string, port: number, path: string): Promise<Relay> {
  const { server, relay } = relayServer(() => createConnection({ path }));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => { server.off('error', reject); resolve(relay); });
  });
}

function arg(name: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) { process.stderr.write(`relay: missing ${name}\n`); process.exit(2); }
  return v;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const reverse = process.argv.includes('--connect');
  const hostPort = arg(reverse ? '--connect' : '--listen');
  const unix = arg('--unix');
  const colon = hostPort.lastIndexOf(':');
  const [host, port] = [hostPort.slice(0, colon), Number(hostPort.slice(colon + 1))];
  (reverse ? relayUnixToTcp(unix, port, host) : relayTcpToUnix(host, port, unix)).then(
    () => { process.stdout.write('relay ready\n'); },
    (e: unknown) => { process.stderr.write(`relay: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(1); },
  );
}
