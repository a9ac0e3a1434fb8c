/**
 * The production {@link LinkIo}: AF_PACKET and raw ICMPv6 sockets from the native addon and the MAC from sysfs.
 * Kept apart from `link.ts` so the link's logic (and its unit tests) load without the compiled addon.
 */
import { readFileSync } from 'node:fs';
import { openIcmp6Socket, openPacketSocket } from '../native/index.ts';
import type { LinkIo } from './link.ts';

/** The MAC of an interface from sysfs (os.networkInterfaces omits interfaces without addresses). */
export function interfaceMac(ifname: string): string {
  return readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim().toLowerCase();
}

/** Real sockets on real interfaces (root or CAP_NET_RAW). */
export const nativeLinkIo: LinkIo = {
  openPacketSocket: (ifname, ethertype, onFrame, onError, filter) => openPacketSocket(ifname, ethertype, onFrame, onError, filter),
  openIcmp6Socket: (onError) => openIcmp6Socket(undefined, onError),
  interfaceMac,
};
