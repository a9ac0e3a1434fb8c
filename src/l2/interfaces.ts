/**
 * Which interfaces announce a Service IP. An explicit list (L2Advertisement.interfaces) wins; otherwise
 * the interfaces that carry one of the node's own addresses in a subnet containing the IP. Loopback and
 * virtual interfaces (pod veths, CNI bridges, docker, kube-ipvs0, …) are never chosen unless listed.
 */
import { isLinkLocal, parseIP, parseRange } from '../net/ip.ts';

/** One address of an interface, as os.networkInterfaces() reports it. */
export interface InterfaceAddress {
  readonly address: string;
  readonly cidr: string | null;
  readonly family: 'IPv4' | 'IPv6';
}

/** An interface of this node. */
export interface NodeInterface {
  readonly name: string;
  readonly mac: string;
  readonly addresses: readonly InterfaceAddress[];
}

const VIRTUAL = /^(lo|cni|flannel|cali|cilium|lxc|vxlan|veth|docker|br-|virbr|kube-ipvs|kube-bridge|weave|tunl|tun|tap|genev|nodelocaldns|dummy)/;

/** Whether an interface name belongs to the virtual kinds we skip unless listed. */
export function isVirtual(name: string): boolean {
  return VIRTUAL.test(name);
}

/** Interfaces that should announce `ip`, in name order. */
export function chooseInterfaces(ip: string, ifaces: readonly NodeInterface[], explicit: readonly string[] = []): string[] {
  if (explicit.length > 0) return ifaces.filter((i) => explicit.includes(i.name)).map((i) => i.name).sort();
  const a = parseIP(ip);
  if (!a) return [];
  const out: string[] = [];
  for (const i of ifaces) {
    if (isVirtual(i.name) || i.mac === '00:00:00:00:00:00') continue;
    const inSubnet = i.addresses.some((addr) => {
      if (addr.cidr === null || addr.family !== a.family) return false;
      const r = parseRange(addr.cidr);
      if ('error' in r || isLinkLocal(r)) return false;
      return a.value >= r.lo && a.value <= r.hi;
    });
    if (inSubnet) out.push(i.name);
  }
  return out.sort();
}
