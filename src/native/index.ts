/**
 * Typed wrapper around the native addon (`baregate_native.c`): the sockets Node has no API for. The Layer-2
 * announcer needs AF_PACKET (to see and send ARP and raw IPv6 frames for addresses the kernel does not own) and a
 * raw ICMPv6 socket (Neighbor Discovery); the BGP speaker needs RFC 2385 TCP-MD5. Linux only.
 *
 * The addon is built by `bash tools/build-native.sh`; importing this module without it throws, naming that command.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants, endianness } from 'node:os';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';

/** What the C side exports (see baregate_native.c); handles are opaque, type-tagged objects. */
interface Handle {
  readonly fd: number;
  readonly ifindex: number;
}
interface Binding {
  init(errorClass: typeof NativeError, onUncaught?: (err: unknown) => void): void;
  packetOpen(ifname: string, ethertype: number, onFrame: (frame: Buffer) => void, onError: (err: NativeError) => void, filter?: Buffer): Handle;
  packetSend(h: Handle, frame: Buffer): void;
  icmp6Open(
    onMessage: ((src: string, ifindex: number, hopLimit: number, payload: Buffer) => void) | undefined,
    onError: (err: NativeError) => void,
  ): Handle;
  icmp6Send(h: Handle, dst: string, ifindex: number, payload: Buffer): void;
  icmp6Membership(h: Handle, group: string, ifindex: number, join: boolean): void;
  close(h: Handle): void;
  udpOpen(
    family: 4 | 6, bindAddress: string, port: number, ifname: string, ttl: number,
    onMessage: ((src: string, srcPort: number, ttl: number, payload: Buffer) => void) | undefined,
    onError: (err: NativeError) => void,
  ): Handle & { readonly port: number };
  udpSend(h: Handle, dst: string, port: number, payload: Buffer): void;
  setTcpMd5(fd: number, peer: string, key: string): void;
  testTcpSocket(family: 4 | 6): number;
  tcpSocket(family: 4 | 6, sourceAddress: string, ttl: number): number;
  tcpConnect(fd: number, address: string, port: number, callback: (errno: number) => void): { cancel(): void };
  setTtl(fd: number, ttl: number): void;
  setMinTtl(fd: number, minTtl: number): void;
  getTtl(fd: number): { ttl: number; minTtl: number };
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * A failed system call in the addon. `errno` is the positive C errno (not libuv's negative one), `syscall` the
 * call that failed, `code` its symbolic name (`ENODEV`), and the message names the object involved, e.g.
 * `sendto(eth0): No such device`, because the announcer logs these per interface.
 */
export class NativeError extends Error {
  readonly errno: number;
  readonly syscall: string;
  readonly code: string;
  constructor(message: string, errno: number, syscall: string) {
    super(message);
    this.name = 'NativeError';
    this.errno = errno;
    this.syscall = syscall;
    this.code = errnoNames.get(errno) ?? `E${errno}`;
  }
}

/** The built addon: next to this file in the source tree, or found from dist/native/ after `npm run build`. */
function load(): Binding {
  const candidates = ['./build/Release/baregate_native.node', '../../src/native/build/Release/baregate_native.node'];
  const file = candidates.map((c) => fileURLToPath(new URL(c, import.meta.url))).find((f) => existsSync(f));
  if (file === undefined) {
    throw new Error(`native addon baregate_native.node is not built (looked in ${candidates.join(', ')} ` +
      `relative to ${fileURLToPath(import.meta.url)}): run \`bash tools/build-native.sh\``);
  }
  const binding = createRequire(import.meta.url)(file) as Binding;
  binding.init(NativeError, reportCallbackError);
  return binding;
}

let callbackErrors = 0;
let callbackErrorSink: ((err: unknown, where: string) => void) | undefined;

/**
 * Where an exception thrown by a JS callback that native code invoked (a frame handler, a connect callback)
 * ends up: counted, handed to the sink set with {@link onNativeCallbackError} (a logger), else a process
 * warning. Never `uncaughtException`: one bad frame must not end the process. Safe even if the sink throws.
 */
function reportCallbackError(err: unknown, where = 'native callback'): void {
  callbackErrors++;
  try {
    if (callbackErrorSink) callbackErrorSink(err, where);
    else process.emitWarning(`${where} threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, 'NativeCallbackError');
  } catch { /* a broken sink must not make it fatal either */ }
}

/** Exceptions thrown by JS callbacks invoked from native code since start (caught, counted, logged). */
export function nativeCallbackErrors(): number {
  return callbackErrors;
}

/** Sets who hears about {@link nativeCallbackErrors} (e.g. a logger); undefined restores the process warning. */
export function onNativeCallbackError(sink: ((err: unknown, where: string) => void) | undefined): void {
  callbackErrorSink = sink;
}

/** `fn` with any exception it throws caught and reported: every callback handed to the addon goes through this. */
function guarded<A extends unknown[]>(where: string, fn: (...args: A) => void, argName?: string): (...args: A) => void {
  // the addon checks its arguments, but it only ever sees the wrapper: check the callback here, as it would
  if (typeof fn !== 'function') throw new TypeError(`${argName ?? 'callback'} must be a function`);
  return (...args: A) => {
    try { fn(...args); } catch (e) { reportCallbackError(e, where); }
  };
}

const native = load();

/** Async socket errors nobody asked to hear about: a warning, not a crash (an interface going away is normal). */
function defaultOnError(err: NativeError): void {
  process.emitWarning(err);
}

/** One classic BPF instruction: [code, jt, jf, k] as in `struct sock_filter`. */
export type BpfInstruction = readonly [code: number, jt: number, jf: number, k: number];

/** Packs a classic BPF program into `struct sock_filter` entries in host byte order. */
export function encodeBpf(prog: readonly BpfInstruction[]): Buffer {
  const b = Buffer.alloc(prog.length * 8);
  const le = endianness() === 'LE';
  prog.forEach(([code, jt, jf, k], i) => {
    if (le) { b.writeUInt16LE(code, i * 8); b.writeUInt32LE(k >>> 0, i * 8 + 4); }
    else { b.writeUInt16BE(code, i * 8); b.writeUInt32BE(k >>> 0, i * 8 + 4); }
    b[i * 8 + 2] = jt;
    b[i * 8 + 3] = jf;
  });
  return b;
}

/** An AF_PACKET socket on one interface; see {@link openPacketSocket}. */
export interface PacketSocket {
  /** The interface index the socket is bound to (if_nametoindex at open time). */
  readonly ifindex: number;
  /** The file descriptor, exposed for fd-leak tests and diagnostics only: never close or read it yourself. */
  readonly fd: number;
  /** Sends a complete Ethernet frame (header included) out of the interface; throws NativeError on failure. */
  send(frame: Buffer): void;
  /** Stops polling and closes the fd. Idempotent, and safe from inside the socket's own callbacks. */
  close(): void;
}

/**
 * AF_PACKET SOCK_RAW bound to one interface and one ethertype (e.g. 0x0806 ARP, 0x86dd IPv6): the announcer has to
 * see ARP requests and Neighbor Solicitations for addresses the kernel does not own, and the IP stack never hands
 * those up. Frames arrive through a libuv poll on the event loop (never blocking it); every pending frame is read
 * per readiness, each as its own Buffer copy. Frames the socket itself (or anything else on this host) sends
 * (PACKET_OUTGOING) are not delivered.
 *
 * The interface must be up (else NativeError ENETDOWN from `bind`). When it goes down or away, `onError` gets
 * ENETDOWN once and the socket is already closed: open a new one when the link is back. The open socket keeps the
 * process alive and is not garbage-collected until closed, like a listening server.
 */
export function openPacketSocket(ifname: string, ethertype: number, onFrame: (frame: Buffer) => void,
  onError: (err: NativeError) => void = defaultOnError, filter?: readonly BpfInstruction[]): PacketSocket {
  const frame = guarded(`packet socket ${ifname} onFrame`, onFrame, 'onFrame');
  const error = guarded(`packet socket ${ifname} onError`, onError, 'onError');
  const h = filter === undefined
    ? native.packetOpen(ifname, ethertype, frame, error)
    : native.packetOpen(ifname, ethertype, frame, error, encodeBpf(filter));
  return {
    ifindex: h.ifindex,
    fd: h.fd,
    send: (frame) => { native.packetSend(h, frame); },
    close: () => { native.close(h); },
  };
}

/** A message {@link openIcmp6Socket} hands to onMessage. */
export interface Icmp6Message {
  /** Source address text; a link-local source comes without `%zone` (that is `ifindex`). */
  src: string;
  /** The interface it arrived on (IPV6_PKTINFO). */
  ifindex: number;
  /** The IPv6 hop limit it arrived with (IPV6_HOPLIMIT): RFC 4861 says to drop ND messages unless it is 255. */
  hopLimit: number;
  /** The ICMPv6 message from the type byte on (a copy). */
  payload: Buffer;
}

/** A raw ICMPv6 socket; see {@link openIcmp6Socket}. */
export interface Icmp6Socket {
  /** The file descriptor, exposed for fd-leak tests and diagnostics only. */
  readonly fd: number;
  /**
   * Sends an ICMPv6 message (payload starts at the type byte; leave the checksum 0, the kernel fills it in) to `dst`
   * out of `ifindex` with hop limit 255. The source is left to the kernel: the interface's link-local address for
   * link-scope destinations, as Neighbor Discovery wants.
   */
  send(dst: string, ifindex: number, payload: Buffer): void;
  /**
   * Joins a multicast group on an interface (IPV6_JOIN_GROUP). Joining the solicited-node group of an address is what
   * makes the kernel accept Neighbor Solicitations for it at all when the address is not configured locally.
   * Joining a group already joined is a no-op.
   */
  join(group: string, ifindex: number): void;
  /** Leaves a group joined with {@link join}; leaving a group not joined is a no-op. */
  leave(group: string, ifindex: number): void;
  /** Stops polling, leaves all groups (the kernel drops memberships with the fd) and closes it. Idempotent. */
  close(): void;
}

/**
 * Raw ICMPv6 socket for Neighbor Discovery: passes only Neighbor Solicitations (type 135) to `onMessage`, sends with
 * hop limit 255, does not loop its own multicast back, and (IPV6_MULTICAST_ALL off) hears only multicast groups it
 * joined itself, not every group the host is in. Without `onMessage` it is send-only: it filters out every type and
 * is not polled, so it neither buffers unread messages nor keeps the process alive.
 */
export function openIcmp6Socket(onMessage?: (m: Icmp6Message) => void,
  onError: (err: NativeError) => void = defaultOnError): Icmp6Socket {
  const h = native.icmp6Open(
    onMessage && guarded('icmp6 socket onMessage', (src: string, ifindex: number, hopLimit: number, payload: Buffer) => { onMessage({ src, ifindex, hopLimit, payload }); }),
    guarded('icmp6 socket onError', onError, 'onError'),
  );
  const joined = new Set<string>();
  // Groups are keyed in canonical form so 'FF02::1:FF00:99' and 'ff02:0::1:ff00:99' are one membership; text that
  // is not an address is passed through for the C side to reject with a TypeError.
  const key = (group: string, ifindex: number): string =>
    `${ipaddr.IPv6.isValid(group) ? ipaddr.IPv6.parse(group).toNormalizedString() : group}%${ifindex}`;
  return {
    fd: h.fd,
    send: (dst, ifindex, payload) => { native.icmp6Send(h, dst, ifindex, payload); },
    join: (group, ifindex) => {
      const k = key(group, ifindex);
      if (joined.has(k)) return;
      native.icmp6Membership(h, group, ifindex, true);
      joined.add(k);
    },
    leave: (group, ifindex) => {
      const k = key(group, ifindex);
      if (!joined.has(k)) return;
      native.icmp6Membership(h, group, ifindex, false);
      joined.delete(k);
    },
    close: () => { joined.clear(); native.close(h); },
  };
}

/** A datagram {@link openUdpSocket} hands to onMessage. */
export interface UdpMessage {
  readonly src: string;
  readonly srcPort: number;
  /** The TTL / hop limit it arrived with (IP_RECVTTL / IPV6_RECVHOPLIMIT); -1 if the kernel gave none. */
  readonly ttl: number;
  readonly payload: Buffer;
}

/** A UDP socket that reports received TTLs; see {@link openUdpSocket}. */
export interface UdpSocket {
  readonly fd: number;
  /** The bound port (the ephemeral one chosen when 0 was asked for). */
  readonly port: number;
  /** One datagram; throws NativeError (EAGAIN when the send buffer is full, ENETUNREACH, ...). */
  send(dst: string, port: number, payload: Buffer): void;
  /** Idempotent. */
  close(): void;
}

/** Options of {@link openUdpSocket}. */
export interface UdpOptions {
  readonly family: 4 | 6;
  /** '' or undefined: any address of the family. */
  readonly bindAddress?: string | undefined;
  /** 0 or undefined: an ephemeral port. */
  readonly port?: number | undefined;
  /** SO_BINDTODEVICE. */
  readonly ifname?: string | undefined;
  /** TTL / hop limit of what it sends (BFD: 255). */
  readonly ttl: number;
}

/**
 * A UDP socket for BFD (RFC 5881 §5: sent with TTL 255, received ones checked for it), which Node's dgram cannot do:
 * it has no way to read a datagram's TTL. Without `onMessage` it only sends and is not polled. A port in use throws a
 * NativeError with code EADDRINUSE.
 */
export function openUdpSocket(o: UdpOptions, onMessage?: (m: UdpMessage) => void, onError: (err: NativeError) => void = defaultOnError): UdpSocket {
  const h = native.udpOpen(
    o.family, o.bindAddress ?? '', o.port ?? 0, o.ifname ?? '', o.ttl,
    onMessage && guarded('udp socket onMessage', (src: string, srcPort: number, ttl: number, payload: Buffer) => { onMessage({ src, srcPort, ttl, payload }); }),
    guarded('udp socket onError', onError, 'onError'),
  );
  return {
    fd: h.fd, port: h.port,
    send: (dst, port, payload) => { native.udpSend(h, dst, port, payload); },
    close: () => { native.close(h); },
  };
}

/**
 * Sets (or with key '' clears; clearing an absent key is a no-op) the RFC 2385 TCP-MD5 key for `peer` on the TCP
 * socket `fd` via setsockopt(TCP_MD5SIG). BGP peers commonly require it, and Node has no socket option for it. Set it
 * on a listening socket before the peer connects, or on a client socket before connect(). IPv4 peers work on IPv6
 * sockets (given v4-mapped); keys are at most 80 bytes (TypeError beyond).
 */
export function setTcpMd5(fd: number, peer: string, key: string): void {
  native.setTcpMd5(fd, peer, key);
}

/** Test helper: the fd of a new unconnected TCP socket (IPv4 or IPv6) to try {@link setTcpMd5} on; close it with fs.closeSync. */
export function _testTcpSocket(family: 4 | 6): number {
  return native.testTcpSocket(family);
}

/**
 * A non-blocking TCP socket with what must be set before the SYN: the source address and the TTL/hop
 * limit (1 for directly connected eBGP, 255 with multihop). Set TCP-MD5 on it with {@link setTcpMd5},
 * then {@link tcpConnect}. The caller owns the fd until it wraps it in a net.Socket.
 */
export function tcpSocket(family: 4 | 6, sourceAddress: string | undefined, ttl: number): number {
  return native.tcpSocket(family, sourceAddress ?? '', ttl);
}

/**
 * Connects a socket from {@link tcpSocket} without blocking; `done` gets 0 once connected or the errno
 * of the failure (ECANCELED after `cancel()`). The fd stays open in every case: close or wrap it.
 */
export function tcpConnect(fd: number, address: string, port: number, done: (err: NativeError | undefined) => void): { cancel(): void } {
  if (typeof done !== 'function') throw new TypeError('callback must be a function');
  return native.tcpConnect(fd, address, port, guarded(`tcpConnect ${address}:${port} callback`, (errno: number) => {
    done(errno === 0 ? undefined : new NativeError(`connect(${address}:${port}): ${errnoNames.get(errno) ?? errno}`, errno, 'connect'));
  }));
}

/**
 * Sets the TTL / hop limit of a TCP socket's packets (IP_TTL, and IPV6_UNICAST_HOPS on IPv6 sockets, which
 * may carry IPv4-mapped peers): accepted eBGP connections get the same TTL 1 as outgoing ones.
 */
export function setTtl(fd: number, ttl: number): void {
  native.setTtl(fd, ttl);
}

/**
 * GTSM (RFC 5082): the kernel drops packets that arrive with a TTL / hop limit below `minTtl`
 * (IP_MINTTL, and IPV6_MINHOPCOUNT on IPv6 sockets), so a spoofer more hops away cannot reach the session.
 */
export function setMinTtl(fd: number, minTtl: number): void {
  native.setMinTtl(fd, minTtl);
}

/** Reads back {@link setTtl} and {@link setMinTtl} (for tests and diagnostics). */
export function getTtl(fd: number): { ttl: number; minTtl: number } {
  return native.getTtl(fd);
}
