/**
 * Classic BPF programs for the packet sockets. The IPv6 socket must see unicast neighbour
 * solicitations for addresses the kernel does not own (reachability probes), which only AF_PACKET
 * receives; the filter keeps every other IPv6 packet of the node out of user space.
 */
import type { BpfInstruction } from '../native/index.ts';

const LD_H_ABS = 0x28;
const LD_B_ABS = 0x30;
const JEQ_K = 0x15;
const RET_K = 0x06;

/** Accepts Ethernet frames carrying ICMPv6 Neighbour Solicitations (no extension headers, as RFC 4861 sends them). */
export const NEIGHBOR_SOLICITATION_FILTER: readonly BpfInstruction[] = [
  [LD_H_ABS, 0, 0, 12],       // ethertype
  [JEQ_K, 0, 5, 0x86dd],      //   IPv6? else drop
  [LD_B_ABS, 0, 0, 20],       // IPv6 next header
  [JEQ_K, 0, 3, 58],          //   ICMPv6? else drop
  [LD_B_ABS, 0, 0, 54],       // ICMPv6 type
  [JEQ_K, 0, 1, 135],         //   Neighbour Solicitation? else drop
  [RET_K, 0, 0, 0x40000],     // accept the whole frame
  [RET_K, 0, 0, 0],           // drop
];

/** Accepts ARP requests only (replies and other operations never need an answer from us). */
export const ARP_REQUEST_FILTER: readonly BpfInstruction[] = [
  [LD_H_ABS, 0, 0, 12],       // ethertype
  [JEQ_K, 0, 3, 0x0806],      //   ARP? else drop
  [LD_H_ABS, 0, 0, 20],       // ARP operation
  [JEQ_K, 0, 1, 1],           //   request? else drop
  [RET_K, 0, 0, 0x40000],
  [RET_K, 0, 0, 0],
];
