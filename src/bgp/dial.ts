/**
 * The BGP speaker's socket options that Node has no API for, through the native addon: outgoing
 * connections with the source address, TTL, GTSM minimum TTL and TCP-MD5 set before the SYN, and the
 * same TTL handling on connections the listener accepted, so an incoming eBGP session is no looser
 * than an outgoing one.
 */
import { closeSync } from 'node:fs';
import net from 'node:net';
import { parseIP } from '../net/ip.ts';
import { setMinTtl, setTcpMd5, setTtl, tcpConnect, tcpSocket } from '../native/index.ts';
import type { PeerConfig } from './config.ts';
import type { BgpSocket, Dialer, DialResult } from './session.ts';

function closeFd(fd: number): void {
  try { closeSync(fd); } catch { /* already closed */ }
}

/** Wraps a connected fd; the error listener goes on before anything else can happen to it. */
function wrap(fd: number): BgpSocket {
  const s = new net.Socket({ fd, readable: true, writable: true });
  s.on('error', () => { s.destroy(); });
  return s;
}

/** Outgoing connections through the addon (tcpSocket + setTcpMd5 + tcpConnect). */
export const nativeDialer: Dialer = {
  dial(peer: PeerConfig, ttl, done: (r: DialResult) => void): { cancel(): void } {
    const family = parseIP(peer.peerAddress)?.family === 'IPv6' ? 6 : 4;
    let fd: number;
    try {
      fd = tcpSocket(family, peer.sourceAddress, ttl.ttl);
      try {
        if (ttl.minTtl !== undefined) setMinTtl(fd, ttl.minTtl);
        if (peer.password !== undefined) setTcpMd5(fd, peer.peerAddress, peer.password);
      } catch (e) {
        closeFd(fd);
        throw e;
      }
    } catch (e) {
      const reason = String(e);
      queueMicrotask(() => { done({ ok: false, reason }); });
      return { cancel: () => undefined };
    }
    let cancelled = false;
    const pending = tcpConnect(fd, peer.peerAddress, peer.peerPort, (err) => {
      if (cancelled || err) { closeFd(fd); done({ ok: false, reason: cancelled ? 'cancelled' : err?.message ?? 'connect failed' }); return; }
      done({ ok: true, socket: wrap(fd) });
    });
    return { cancel: () => { cancelled = true; pending.cancel(); } };
  },
};

/** The fd under a net.Socket the listener accepted (undefined if Node's internals ever hide it). */
function fdOf(s: net.Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Applies a peer's TTL (1 for directly connected eBGP) and GTSM minimum TTL to an accepted connection.
 * Returns why it could not, in which case the connection must be refused: a session we cannot hold to
 * its TTL rules is not one to run.
 */
export function applyAcceptedTtl(s: net.Socket, ttl: { ttl: number; minTtl: number | undefined }): string | undefined {
  const fd = fdOf(s);
  if (fd === undefined) return 'no file descriptor for the accepted socket';
  try {
    setTtl(fd, ttl.ttl);
    if (ttl.minTtl !== undefined) setMinTtl(fd, ttl.minTtl);
    return undefined;
  } catch (e) {
    return String(e);
  }
}

/**
 * Brings a listening server's TCP-MD5 keys from `have` to `want` (peer address → key), updating `have`
 * as it goes: keys are set before a peer could connect, and a removed peer's key is deleted so the
 * listener does not keep demanding signatures from an address that may be reused without a password.
 * Returns the failures instead of throwing: one bad key must not keep the others off the listener.
 */
export function syncListenerMd5(server: net.Server, have: Map<string, string>, want: ReadonlyMap<string, string>): { peer: string; error: string }[] {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  const errors: { peer: string; error: string }[] = [];
  const set = (peer: string, key: string): boolean => {
    if (fd === undefined || fd < 0) { errors.push({ peer, error: 'no file descriptor for the listening socket' }); return false; }
    try { setTcpMd5(fd, peer, key); return true; } catch (e) { errors.push({ peer, error: String(e) }); return false; }
  };
  for (const peer of [...have.keys()]) if (!want.has(peer) && set(peer, '')) have.delete(peer);
  for (const [peer, key] of want) if (have.get(peer) !== key && set(peer, key)) have.set(peer, key);
  return errors;
}
