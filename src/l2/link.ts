/**
 * One interface in Layer-2 mode: the packet sockets, the responder and the announcer wired together.
 * `setOwned` is the only input: IPs gained are announced at once (gratuitous ARP / unsolicited NA) and
 * answered from then on; IPs lost stop being answered immediately. If the interface goes down or
 * away, the sockets are reopened once it is back and every owned IP is announced again.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { canonicalIP, parseIP } from '../lb/ipnet.ts';
import { openIcmp6Socket, openPacketSocket, type Icmp6Socket, type NativeError, type PacketSocket } from '../native/index.ts';
import { Announcer, DEFAULT_SCHEDULE } from './announcer.ts';
import { ARP_REQUEST_FILTER, NEIGHBOR_SOLICITATION_FILTER } from './filters.ts';
import { EtherType, gratuitousArp, solicitedNode, unsolicitedNa } from './frames.ts';
import { handleFrame, type ResponderContext } from './responder.ts';

/** Link settings. */
export interface LinkOptions {
  readonly ifname: string;
  readonly log: Logger;
  /** Gratuitous announcement schedule, ms after a gain. */
  readonly schedule?: readonly number[];
  /** How often to try reopening after the interface went away. */
  readonly reopenMs?: number;
}

/** Counters for metrics, the CLI and tests. */
export interface LinkStats {
  replies: number;
  announcements: number;
  drops: Record<string, number>;
  reopens: number;
}

/** The MAC of an interface from sysfs (os.networkInterfaces omits interfaces without addresses). */
export function interfaceMac(ifname: string): string {
  return readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim().toLowerCase();
}

/** See the module comment. */
export class L2Link {
  private readonly owned = new Set<string>();
  private arp: PacketSocket | undefined;
  private nd: PacketSocket | undefined;
  private icmp: Icmp6Socket | undefined;
  private readonly groups = new Map<string, number>();
  private mac = '';
  private reopenTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly announcer: Announcer;
  readonly stats: LinkStats = { replies: 0, announcements: 0, drops: {}, reopens: 0 };

  constructor(private readonly o: LinkOptions) {
    this.announcer = new Announcer((ip) => { this.announce(ip); }, o.schedule ?? DEFAULT_SCHEDULE);
    this.open();
  }

  /** The interface's MAC (what we answer with). */
  get hwaddr(): string {
    return this.mac;
  }

  /** Whether the sockets are open (false while the interface is down or gone). */
  get up(): boolean {
    return this.arp !== undefined;
  }

  /** IPs answered for now. */
  ownedIPs(): string[] {
    return [...this.owned];
  }

  /** Replaces the owned set; returns how many IPs were gained and lost. */
  setOwned(ips: Iterable<string>): { gained: number; lost: number } {
    const want = new Set<string>();
    for (const ip of ips) {
      const c = canonicalIP(ip);
      if (c === undefined) throw new TypeError(`not an IP address: ${ip}`);
      want.add(c);
    }
    let gained = 0, lost = 0;
    for (const ip of [...this.owned]) if (!want.has(ip)) { this.drop(ip); lost++; }
    for (const ip of want) if (!this.owned.has(ip)) { this.take(ip); gained++; }
    return { gained, lost };
  }

  /** Adds one IP. */
  add(ip: string): void {
    this.setOwned([...this.owned, ip]);
  }

  /** Removes one IP. */
  remove(ip: string): void {
    const c = canonicalIP(ip);
    if (c !== undefined && this.owned.has(c)) this.drop(c);
  }

  /** Stops answering everything and closes all sockets. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    this.announcer.stop();
    this.owned.clear();
    this.closeSockets();
  }

  private take(ip: string): void {
    this.owned.add(ip); // answering starts before the first announcement goes out
    if (parseIP(ip)?.family === 'IPv6') this.join(solicitedNode(ip));
    this.announcer.gain(ip);
  }

  private drop(ip: string): void {
    this.owned.delete(ip); // answering stops at once
    this.announcer.lose(ip);
    if (parseIP(ip)?.family === 'IPv6') this.leave(solicitedNode(ip));
  }

  /** Solicited-node groups are shared between IPs with the same low 24 bits: counted, joined once. */
  private join(group: string): void {
    const n = this.groups.get(group) ?? 0;
    this.groups.set(group, n + 1);
    if (n === 0) this.membership(group, true);
  }

  private leave(group: string): void {
    const n = this.groups.get(group) ?? 0;
    if (n <= 1) { this.groups.delete(group); this.membership(group, false); }
    else this.groups.set(group, n - 1);
  }

  private membership(group: string, join: boolean): void {
    if (!this.icmp || !this.arp) return; // (re)joined on reopen
    try {
      if (join) this.icmp.join(group, this.arp.ifindex); else this.icmp.leave(group, this.arp.ifindex);
    } catch (e) {
      this.o.log.warn({ event: 'multicast_membership_failed', ifname: this.o.ifname, group, join, err: String(e) }, 'multicast membership change failed');
    }
  }

  private announce(ip: string): void {
    const sock = parseIP(ip)?.family === 'IPv6' ? this.nd : this.arp;
    if (!sock || !this.owned.has(ip)) return;
    const frames = parseIP(ip)?.family === 'IPv6' ? [unsolicitedNa(ip, this.mac)] : gratuitousArp(ip, this.mac);
    try {
      for (const f of frames) sock.send(f);
      this.stats.announcements++;
    } catch (e) {
      this.o.log.warn({ event: 'announce_failed', ifname: this.o.ifname, ip, err: String(e) }, 'gratuitous announcement failed');
    }
  }

  private onFrame(sock: PacketSocket | undefined, frame: Buffer): void {
    const ctx: ResponderContext = { mac: this.mac, owns: (ip) => this.owned.has(ip) };
    const d = handleFrame(frame, ctx);
    if ('drop' in d) { this.stats.drops[d.drop] = (this.stats.drops[d.drop] ?? 0) + 1; return; }
    try {
      sock?.send(d.reply);
      this.stats.replies++;
    } catch (e) {
      this.o.log.warn({ event: 'reply_failed', ifname: this.o.ifname, ip: d.ip, err: String(e) }, 'reply failed');
    }
  }

  private open(): void {
    if (this.closed) return;
    const onError = (err: NativeError): void => {
      this.o.log.warn({ event: 'link_error', ifname: this.o.ifname, err: err.message }, 'interface socket failed; reopening when the interface is back');
      this.closeSockets();
      this.scheduleReopen();
    };
    try {
      this.mac = interfaceMac(this.o.ifname);
      this.arp = openPacketSocket(this.o.ifname, EtherType.ARP, (f) => { this.onFrame(this.arp, f); }, onError, ARP_REQUEST_FILTER);
      this.nd = openPacketSocket(this.o.ifname, EtherType.IPv6, (f) => { this.onFrame(this.nd, f); }, onError, NEIGHBOR_SOLICITATION_FILTER);
      this.icmp = openIcmp6Socket(undefined, onError);
    } catch (e) {
      this.o.log.warn({ event: 'link_open_failed', ifname: this.o.ifname, err: String(e) }, 'cannot open interface sockets; retrying');
      this.closeSockets();
      this.scheduleReopen();
      return;
    }
    for (const g of this.groups.keys()) this.membership(g, true);
    for (const ip of this.owned) this.announcer.gain(ip);
  }

  private scheduleReopen(): void {
    if (this.closed || this.reopenTimer) return;
    this.reopenTimer = setTimeout(() => { this.reopenTimer = undefined; this.stats.reopens++; this.open(); }, this.o.reopenMs ?? 1000);
  }

  private closeSockets(): void {
    for (const s of [this.arp, this.nd, this.icmp]) {
      try { s?.close(); } catch { /* already closed by the addon after an error */ }
    }
    this.arp = this.nd = undefined;
    this.icmp = undefined;
  }
}
