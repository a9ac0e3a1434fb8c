/**
 * The BFD transport on real sockets (the native addon's UDP socket, which reports received TTLs): one listener
 * per family and mode on every local address (3784 single hop, 4784 multihop), and one sending socket per
 * session with TTL 255 from a source port in 49152–65535 as RFC 5881 §4 asks (Linux's ephemeral range starts
 * lower, so the port is picked here).
 */
import type { Logger } from '../log.ts';
import { NativeError, openUdpSocket } from '../native/index.ts';
import { BFD_PORTS, type BfdTransport } from './sessions.ts';

/** RFC 5881 §4 source port range. */
export const SOURCE_PORTS = { min: 49152, max: 65535 } as const;

/** How many random ports a sender tries before giving up. */
const PORT_TRIES = 64;

/** The production {@link BfdTransport}. `rand` picks source ports (injectable for tests). */
export function udpTransport(log: Logger, rand: () => number = Math.random): BfdTransport {
  return {
    listen(family, multihop, onPacket) {
      const port = multihop ? BFD_PORTS.multihop : BFD_PORTS.singleHop;
      const s = openUdpSocket({ family, port, ttl: 255 }, (m) => { onPacket(m.src, m.ttl, m.payload); }, (err) => {
        log.error({ event: 'bfd_listener_error', family, port, err: err.message }, 'BFD listener failed');
      });
      log.info({ event: 'bfd_listening', family, port }, 'BFD listening');
      return { close: () => { s.close(); } };
    },
    sender(family, localAddress) {
      let last: unknown;
      for (let i = 0; i < PORT_TRIES; i++) {
        const port = SOURCE_PORTS.min + Math.floor(rand() * (SOURCE_PORTS.max - SOURCE_PORTS.min + 1));
        try {
          const s = openUdpSocket({ family, bindAddress: localAddress, port, ttl: 255 });
          return { send: (dst, p, payload) => { s.send(dst, p, payload); }, close: () => { s.close(); } };
        } catch (e) {
          if (!(e instanceof NativeError) || e.code !== 'EADDRINUSE') throw e;
          last = e;
        }
      }
      throw new Error(`no free BFD source port in ${SOURCE_PORTS.min}-${SOURCE_PORTS.max} after ${PORT_TRIES} tries: ${String(last)}`);
    },
  };
}
