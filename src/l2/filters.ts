/**
 * Classic BPF programs for the packet sockets. The IPv6 socket must see unicast neighbour
 * solicitations for addresses the kernel does not own (reachability probes), which only AF_PACKET
 * receives, and neighbour advertisements from others (answers to our probes, rival owners); the filter
 * keeps every other IPv6 packet of the node out of user space.
 */
import type { BpfInstruction } from '../native/index.ts';

const LD_H_ABS = 0x28;
const LD_B_ABS = 0x30;
const JEQ_K = 0x15;
const RET_K = 0x06;

/**
 * Accepts Ethernet frames carrying ICMPv6 Neighbour Solicitations (answered) and Neighbour Advertisements
 * (watched for claims by others), without extension headers, as RFC 4861 sends them.
 */
export const NEIGHBOR_DISCOVERY_FILTER: readonly BpfInstruction[] = [
  [LD_H_ABS, 0, 0, 12],       // ethertype
  [JEQ_K, 0, 6, 0x86dd],      //   IPv6? else drop
  [LD_B_ABS, 0, 0, 20],       // IPv6 next header
  [JEQ_K, 0, 4, 58],          //   ICMPv6? else drop
  [LD_B_ABS, 0, 0, 54],       // ICMPv6 type
  [JEQ_K, 1, 0, 135],         //   Neighbour Solicitation? accept
  [JEQ_K, 0, 1, 136],         //   Neighbour Advertisement? accept, else drop
  [RET_K, 0, 0, 0x40000],     // accept the whole frame
  [RET_K, 0, 0, 0],           // drop
];

/**
 * Accepts every ARP frame: requests are answered; requests and replies with someone else's MAC and an IP of
 * ours as sender are claims (duels), and replies are how a probe hears the current holder.
 */
export const ARP_FILTER: readonly BpfInstruction[] = [
  [LD_H_ABS, 0, 0, 12],       // ethertype
  [JEQ_K, 0, 1, 0x0806],      //   ARP? else drop
  [RET_K, 0, 0, 0x40000],
  [RET_K, 0, 0, 0],
];
