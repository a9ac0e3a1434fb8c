/**
 * Test support: an in-memory connection (two `Duplex` ends, no sockets, no kernel) and a scripted BGP
 * peer on one end of it. The session under test gets the other end as if it were a net.Socket, so its
 * timers, back-pressure and collision handling are tested with a fake clock and exact control over
 * what the peer sends, reads and when it resets.
 */
import { Duplex } from 'node:stream';
import { buildOpen, decodeMessage, encode } from './codec.ts';
import { MessageFramer } from './framer.ts';
import { Afi, MessageType, Safi, type Capability, type CodecContext, type Message } from './message.ts';

/** One end of an in-memory connection. `stallReading()` stops the far end from consuming what this end is sent. */
export class MemorySocket extends Duplex {
  peer: MemorySocket | undefined;
  /** Every chunk handed to this end's write(), whether or not it left the write buffer yet. */
  readonly written: Buffer[] = [];
  private stalled = false;
  private pendingAcks: (() => void)[] = [];

  constructor(readonly localAddress: string, readonly remoteAddress: string, highWaterMark = 16 * 1024) {
    super({ writableHighWaterMark: highWaterMark, allowHalfOpen: false });
  }

  /** This end stops consuming: writes from the far end stay buffered there (its write() returns false). */
  stallReading(): void {
    this.stalled = true;
  }

  /** Consumes again, acknowledging everything held. */
  resumeReading(): void {
    this.stalled = false;
    const acks = this.pendingAcks.splice(0);
    for (const a of acks) a();
  }

  override write(chunk: unknown, encodingOrCb?: BufferEncoding | ((error: Error | null | undefined) => void), cb?: (error: Error | null | undefined) => void): boolean {
    if (Buffer.isBuffer(chunk)) this.written.push(chunk);
    if (typeof encodingOrCb === 'function') return super.write(chunk, encodingOrCb);
    return encodingOrCb === undefined ? super.write(chunk, cb) : super.write(chunk, encodingOrCb, cb);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const p = this.peer;
    if (!p || p.destroyed) { cb(); return; }
    const deliver = (): void => { if (!p.destroyed) p.push(chunk); cb(); };
    if (p.stalled) p.pendingAcks.push(deliver); else deliver();
  }

  override _read(): void { /* data is pushed by the far end's writes */ }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.peer && !this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    const p = this.peer;
    this.peer = undefined;
    if (p && !p.destroyed) p.destroy();
    cb(err);
  }

  /** The far end resets the connection: this end sees ECONNRESET as an 'error', then 'close'. */
  resetFromPeer(): void {
    const e = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const p = this.peer;
    this.peer = undefined;
    if (p) { p.peer = undefined; p.destroy(); }
    this.destroy(e);
  }
}

/** A connected pair: `[ours, theirs]`, addresses as each end sees them. */
export function memoryPair(ourAddress: string, theirAddress: string, highWaterMark?: number): [MemorySocket, MemorySocket] {
  const a = new MemorySocket(ourAddress, theirAddress, highWaterMark);
  const b = new MemorySocket(theirAddress, ourAddress, highWaterMark);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** The peer's half of a test: what it received, decoded, and helpers to send. */
export class ScriptedPeer<S extends Duplex = MemorySocket> {
  readonly received: Message[] = [];
  private readonly framer = new MessageFramer({ extendedMessages: true });
  ctx: CodecContext = { fourOctetAS: true, extendedMessages: false };
  closed = false;
  errors: Error[] = [];

  constructor(readonly socket: S, readonly opts: { asn: number; id: string; holdTime?: number; capabilities?: Capability[] }) {
    socket.on('data', (chunk: Buffer) => {
      const f = this.framer.push(chunk);
      if (!f.ok) throw new Error(`peer could not frame what the session sent: ${f.error.message}`);
      for (const raw of f.value) {
        const d = decodeMessage(raw, this.ctx);
        if (!d.ok) throw new Error(`peer could not decode what the session sent: ${d.error.message}`);
        this.received.push(d.value);
      }
    });
    socket.on('error', (e: Error) => { this.errors.push(e); });
    socket.on('close', () => { this.closed = true; });
  }

  /** Sends this peer's OPEN (4-octet AS, both unicast families, route refresh by default). */
  open(over: { holdTime?: number; id?: string; asn?: number } = {}): void {
    const asn = over.asn ?? this.opts.asn;
    const caps: Capability[] = this.opts.capabilities ?? [
      { kind: 'multiprotocol', afi: Afi.IPv4, safi: Safi.Unicast }, { kind: 'multiprotocol', afi: Afi.IPv6, safi: Safi.Unicast },
      { kind: 'routeRefresh' }, { kind: 'fourOctetAS', asn },
    ];
    this.socket.write(encode(buildOpen({ asn, holdTime: over.holdTime ?? this.opts.holdTime ?? 90, bgpIdentifier: over.id ?? this.opts.id, capabilities: caps }), { fourOctetAS: false, extendedMessages: false }));
  }

  keepalive(): void {
    this.socket.write(encode({ type: MessageType.Keepalive }, this.ctx));
  }

  routeRefresh(afi: number, safi: number = Safi.Unicast): void {
    this.socket.write(encode({ type: MessageType.RouteRefresh, afi, safi, subtype: 0 }, this.ctx));
  }

  /** Received messages of one type. */
  of<T extends Message['type']>(type: T): Extract<Message, { type: T }>[] {
    return this.received.filter((m): m is Extract<Message, { type: T }> => m.type === type);
  }

  /** NOTIFICATIONs received as `code/subcode`. */
  notifications(): string[] {
    return this.of(MessageType.Notification).map((n) => `${n.code}/${n.subcode}`);
  }
}

/** Prefix keys announced (NLRI and MP_REACH) in a list of messages, in order. */
export function announcedIn(msgs: readonly Message[]): string[] {
  return msgs.flatMap((m) => (m.type !== MessageType.Update ? [] : [...m.nlri, ...m.attributes.flatMap((a) => (a.kind === 'mpReach' ? a.nlri : []))].map((p) => `${p.prefix}/${p.length}`)));
}

/** End-of-RIB markers (RFC 4724) in a list of messages, as AFIs. */
export function endOfRibs(msgs: readonly Message[]): number[] {
  return msgs.flatMap((m) => {
    if (m.type !== MessageType.Update || m.nlri.length > 0 || m.withdrawn.length > 0) return [];
    if (m.attributes.length === 0) return [Afi.IPv4];
    const un = m.attributes.length === 1 ? m.attributes[0] : undefined;
    return un?.kind === 'mpUnreach' && un.withdrawn.length === 0 ? [un.afi] : [];
  });
}

/** Lets streams and deferred work run: a few turns of the event loop. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => { setImmediate(r); });
}
