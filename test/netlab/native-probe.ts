/**
 * Runs the native addon inside a network namespace for test/netlab/native.test.ts (Node cannot setns, so the test
 * starts this under `ip netns exec NS node --import tsx`). Protocol: JSON lines. Requests on stdin
 * `{ id, op, ...args }` get `{ id, ok: true, result }` or `{ id, ok: false, error: { name, message, code, errno,
 * syscall } }`; socket callbacks become events `{ ev: 'frame' | 'msg' | 'error', sock, ... }`. Exits when stdin ends,
 * so a dying test never leaves it behind.
 */
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import {
  _testTcpSocket, nativeCallbackErrors, openIcmp6Socket, openPacketSocket, setTcpMd5, type Icmp6Socket, type NativeError, type PacketSocket,
} from '../../src/native/index.ts';

type Req = Record<string, unknown> & { id: number; op: string };

const sockets = new Map<number, PacketSocket | Icmp6Socket>();
let nextSock = 1;

function emit(line: object): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}
function errorJson(e: unknown): object {
  const err = e as Partial<NativeError> & Error;
  return { name: err.name, message: err.message, code: err.code, errno: err.errno, syscall: err.syscall };
}
/** Open fds, as `N -> target` (the target tells a leaked packet socket from, say, a pipe of the runtime). */
function fds(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try { return `${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return `${fd} -> (gone)`; }
  });
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const hex = (b: Buffer): string => b.toString('hex');
const bytes = (v: unknown): Buffer => Buffer.from(String(v), 'hex');
function sock(req: Req): PacketSocket & Icmp6Socket {
  const s = sockets.get(Number(req.sock));
  if (!s) throw new Error(`no socket ${String(req.sock)}`);
  return s as PacketSocket & Icmp6Socket; // the test knows which kind each number is
}

/** Can a TCP client reach `server` within `ms`? (A SYN the server drops for a missing MD5 signature just times out.) */
function connects(port: number, host: string, ms: number, fd?: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = fd === undefined ? new Socket() : new Socket({ fd, readable: true, writable: true });
    const t = setTimeout(() => { c.destroy(); resolve(false); }, ms);
    c.once('connect', () => { clearTimeout(t); c.destroy(); resolve(true); });
    c.once('error', () => { clearTimeout(t); c.destroy(); resolve(false); });
    c.connect(port, host);
  });
}

const ops: Record<string, (req: Req) => unknown> = {
  openPacket(req) {
    const id = nextSock++;
    const s = openPacketSocket(req.ifname as string, req.ethertype as number, (frame) => {
      emit({ ev: 'frame', sock: id, hex: hex(frame) });
      if (req.closeOnFrame) s.close();
      if (req.throwOnFrame) throw new Error('onFrame threw on purpose');
    }, (err) => { emit({ ev: 'error', sock: id, ...errorJson(err) }); });
    sockets.set(id, s);
    return { sock: id, fd: s.fd, ifindex: s.ifindex };
  },
  /** Sends the frame `count` times (default 1) back to back, so they queue up at the receiver together. */
  packetSend(req) {
    const s = sock(req);
    for (let i = 0; i < ((req.count as number | undefined) ?? 1); i++) s.send(bytes(req.hex));
  },
  openIcmp6(req) {
    const id = nextSock++;
    const s = openIcmp6Socket(req.listen ? (m) => {
      emit({ ev: 'msg', sock: id, src: m.src, ifindex: m.ifindex, hopLimit: m.hopLimit, hex: hex(m.payload) });
    } : undefined, (err) => { emit({ ev: 'error', sock: id, ...errorJson(err) }); });
    sockets.set(id, s);
    return { sock: id, fd: s.fd };
  },
  icmp6Send(req) { sock(req).send(req.dst as string, req.ifindex as number, bytes(req.hex)); },
  join(req) { sock(req).join(req.group as string, req.ifindex as number); },
  leave(req) { sock(req).leave(req.group as string, req.ifindex as number); },
  close(req) { sock(req).close(); },
  cpu() { const u = process.cpuUsage(); return (u.user + u.system) / 1000; },
  callbackErrors() { return nativeCallbackErrors(); },
  /** n open/close cycles of one socket type; fd counts around them (after a GC, so finalizers have run too). */
  async cycle(req) {
    const n = req.n as number;
    const settle = async (): Promise<void> => {
      await sleep(50); // uv_close callbacks
      (globalThis as { gc?: () => void }).gc?.();
      await sleep(50); // finalizers
    };
    await settle();
    const before = fds();
    for (let i = 0; i < n; i++) {
      if (req.kind === 'packet') {
        openPacketSocket(req.ifname as string, 0x0806, () => undefined).close();
      } else {
        const s = openIcmp6Socket(() => undefined);
        s.join('ff02::1:ff00:99', req.ifindex as number);
        s.close();
      }
    }
    const afterLoop = fds();
    await settle();
    const after = fds();
    return { before, afterLoop, after };
  },
  /** TCP-MD5 for real: a listener with a key for `peer` ignores an unsigned SYN, a signed one gets through, and
   *  after clearing the key an unsigned one does too. */
  async md5(req) {
    const host = req.host as string;
    const server: Server = createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(0, host, r));
    const port = (server.address() as AddressInfo).port;
    const lfd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    try {
      setTcpMd5(lfd, host, req.key as string);
      const unsignedWithKey = await connects(port, host, 700);
      const cfd = _testTcpSocket(host.includes(':') ? 6 : 4);
      try {
        setTcpMd5(cfd, host, req.key as string);
      } catch (e) { closeSync(cfd); throw e; }
      const signed = await connects(port, host, 2000, cfd); // the Socket owns cfd now and closes it
      setTcpMd5(lfd, host, '');
      const unsignedCleared = await connects(port, host, 2000);
      return { unsignedWithKey, signed, unsignedCleared };
    } finally {
      server.close();
    }
  },
};

createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line) as Req;
  const op = ops[req.op];
  Promise.resolve()
    .then(() => { if (!op) throw new Error(`unknown op ${req.op}`); return op(req); })
    .then((result: unknown) => { emit({ id: req.id, ok: true, result: result ?? null }); },
      (e: unknown) => { emit({ id: req.id, ok: false, error: errorJson(e) }); });
}).on('close', () => {
  for (const s of sockets.values()) s.close();
  process.exit(0);
});
emit({ ev: 'ready', pid: process.pid });
