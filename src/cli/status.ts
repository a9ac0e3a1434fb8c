/**
 * `baregate status`: which node holds which VIP, in one command. Every LoadBalancer Service with its IPs, pool,
 * mode and announcing node(s), then per node its BGP sessions and any condition that is not True.
 *
 * The answer comes from the SpeakerStatus objects (one per node, written by its speaker only when it changes),
 * so it costs three list requests whatever the cluster size and asks no node directly. A node whose speaker
 * Lease is missing or expired is shown as stale and its announcements are not counted: its status may be the
 * last word of a crashed speaker.
 *
 * The report is built by a pure function ({@link statusReport}) and printed by another ({@link formatTable}),
 * both unit-tested; only {@link runStatusCommand} does I/O.
 */
import { ALLOCATED_FROM_POOL, SPEAKER_LEASE_PREFIX } from '../api/keys.ts';
import { KubeClient } from '../k8s/client.ts';
import { readStatusInputs, type StatusInputs } from '../k8s/speakerstatus.ts';

/** One Service IP: how it is announced and by whom. */
export interface IPReport {
  readonly ip: string;
  readonly pool: string;
  /** `L2`, `BGP`, both (`L2+BGP`), or `''` when no live node announces it. */
  readonly mode: string;
  readonly nodes: readonly string[];
}

/** One LoadBalancer Service. */
export interface ServiceReport {
  /** `namespace/name`. */
  readonly name: string;
  readonly ips: readonly string[];
  /** The pool(s) the IPs came from (the controller's annotation), `''` when none. */
  readonly pool: string;
  /** Union over its IPs (as {@link IPReport.mode}). */
  readonly mode: string;
  /** Union over its IPs, sorted. */
  readonly nodes: readonly string[];
  readonly announcements: readonly IPReport[];
}

/** One BGP session of a node. */
export interface SessionReport {
  readonly peer: string;
  readonly address: string;
  readonly state: string;
  readonly establishedSince?: string;
  readonly prefixesSent?: number;
  readonly lastError?: string;
  /** The BFD session beside it: state, and single hop or multihop. */
  readonly bfd?: { readonly state: string; readonly multihop: boolean; readonly lastDiagnostic?: string; readonly lastDropped?: string };
}

/** One speaker. */
export interface NodeReport {
  readonly node: string;
  /** No fresh Lease: the speaker is gone (or cannot reach the apiserver); its announcements are not counted. */
  readonly stale: boolean;
  readonly announcing: number;
  readonly sessions: readonly SessionReport[];
  /** Conditions that are not True, as `Type: message`. */
  readonly problems: readonly string[];
}

/** The whole report (`-o json` prints exactly this). */
export interface StatusReport {
  readonly services: readonly ServiceReport[];
  readonly nodes: readonly NodeReport[];
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Json : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Whether a speaker Lease is fresh at `nowMs` (wall clock: a person's terminal, not a failover decision). */
function leaseFresh(lease: unknown, nowMs: number): boolean {
  const spec = obj(obj(lease)?.spec);
  const renew = Date.parse(str(spec?.renewTime) ?? str(spec?.acquireTime) ?? '');
  const dur = typeof spec?.leaseDurationSeconds === 'number' ? spec.leaseDurationSeconds : 15;
  return (str(spec?.holderIdentity) ?? '') !== '' && Number.isFinite(renew) && nowMs <= renew + dur * 1000;
}

const modeText = (modes: Iterable<string>): string => [...new Set(modes)].sort().join('+');

/** Builds the report from what the API returned. Pure; tolerant of any shape (fields it cannot read are empty). */
export function statusReport(inputs: StatusInputs, nowMs: number): StatusReport {
  const freshNodes = new Set<string>();
  for (const l of inputs.leases) {
    const name = str(obj(obj(l)?.metadata)?.name) ?? '';
    if (name.startsWith(SPEAKER_LEASE_PREFIX) && leaseFresh(l, nowMs)) freshNodes.add(name.slice(SPEAKER_LEASE_PREFIX.length));
  }
  // ip → mode → nodes, from live speakers only
  const byIP = new Map<string, Map<string, Set<string>>>();
  const nodes: NodeReport[] = [];
  for (const s of [...inputs.statuses].sort((a, b) => byText(a.metadata.name, b.metadata.name))) {
    const node = s.metadata.name;
    const st = obj(s.status);
    const stale = !freshNodes.has(node);
    const anns = arr(st?.announcements).map(obj).filter((a): a is Json => a !== undefined);
    if (!stale) {
      for (const a of anns) {
        const ip = str(a.ip);
        const mode = str(a.mode) ?? '';
        if (ip === undefined) continue;
        let modes = byIP.get(ip);
        if (!modes) byIP.set(ip, modes = new Map<string, Set<string>>());
        let set = modes.get(mode);
        if (!set) modes.set(mode, set = new Set<string>());
        set.add(node);
      }
    }
    const sessions: SessionReport[] = arr(st?.sessions).map(obj).filter((x): x is Json => x !== undefined).map((x) => ({
      peer: str(x.peer) ?? '', address: str(x.address) ?? '', state: str(x.state) ?? '',
      ...(str(x.establishedSince) !== undefined ? { establishedSince: str(x.establishedSince) ?? '' } : {}),
      ...(typeof x.prefixesSent === 'number' ? { prefixesSent: x.prefixesSent } : {}),
      ...(str(x.lastError) !== undefined ? { lastError: str(x.lastError) ?? '' } : {}),
      ...bfdReport(obj(x.bfd)),
    })).sort((a, b) => byText(a.peer, b.peer));
    const problems = arr(st?.conditions).map(obj).filter((c): c is Json => c !== undefined && c.status !== 'True')
      .map((c) => `${str(c.type) ?? '?'}: ${str(c.message) ?? ''}`);
    nodes.push({ node, stale, announcing: anns.length, sessions, problems });
  }
  const services: ServiceReport[] = [];
  for (const raw of inputs.services) {
    const s = obj(raw);
    const meta = obj(s?.metadata);
    if (obj(s?.spec)?.type !== 'LoadBalancer') continue;
    const name = `${str(meta?.namespace) ?? ''}/${str(meta?.name) ?? ''}`;
    const ips = arr(obj(obj(s?.status)?.loadBalancer)?.ingress).map((i) => str(obj(i)?.ip)).filter((x): x is string => x !== undefined);
    const pools = (str(obj(meta?.annotations)?.[ALLOCATED_FROM_POOL]) ?? '').split(',').filter((p) => p !== '');
    const announcements: IPReport[] = ips.map((ip, n) => {
      const modes = byIP.get(ip) ?? new Map<string, Set<string>>();
      const who = new Set<string>();
      for (const set of modes.values()) for (const x of set) who.add(x);
      return { ip, pool: pools.length === ips.length ? pools[n] ?? '' : pools.join(','), mode: modeText(modes.keys()), nodes: [...who].sort(byText) };
    });
    const allNodes = new Set(announcements.flatMap((a) => a.nodes));
    services.push({
      name, ips, pool: pools.join(','), mode: modeText(announcements.flatMap((a) => (a.mode === '' ? [] : a.mode.split('+')))),
      nodes: [...allNodes].sort(byText), announcements,
    });
  }
  services.sort((a, b) => byText(a.name, b.name));
  return { services, nodes };
}

/** Left-aligned columns, two spaces apart. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A session's `bfd` object as reported; nothing when absent or malformed. */
function bfdReport(b: Json | undefined): Pick<SessionReport, 'bfd'> {
  const state = str(b?.state);
  if (b === undefined || state === undefined) return {};
  const diag = str(b.lastDiagnostic);
  const dropped = str(b.lastDropped);
  return { bfd: { state, multihop: b.multihop === true, ...(diag !== undefined ? { lastDiagnostic: diag } : {}), ...(dropped !== undefined ? { lastDropped: dropped } : {}) } };
}

/** The report as a person reads it: one line per Service IP, then per node its sessions and problems. */
export function formatTable(r: StatusReport): string {
  const out: string[] = [];
  const rows: string[][] = [];
  for (const s of r.services) {
    if (s.announcements.length === 0) { rows.push([s.name, '<pending>', s.pool === '' ? '-' : s.pool, '-', '-']); continue; }
    for (const a of s.announcements) rows.push([s.name, a.ip, a.pool === '' ? '-' : a.pool, a.mode === '' ? '-' : a.mode, a.nodes.length > 0 ? a.nodes.join(',') : '<none>']);
  }
  out.push(rows.length > 0 ? table(['SERVICE', 'IP', 'POOL', 'MODE', 'NODES'], rows) : 'No LoadBalancer Services.');
  out.push('');
  if (r.nodes.length === 0) {
    out.push('No speaker has reported yet (no SpeakerStatus objects).');
  } else {
    const nrows = r.nodes.map((n) => [n.node, n.stale ? 'stale' : 'live', String(n.announcing), String(n.sessions.length), n.problems.length > 0 ? n.problems.join('; ') : '-']);
    out.push(table(['NODE', 'SPEAKER', 'ANNOUNCING', 'SESSIONS', 'PROBLEMS'], nrows));
    const bfdText = (s: SessionReport): string => (s.bfd ? `${s.bfd.state}${s.bfd.multihop ? ' (multihop)' : ''}` : '-');
    // a BFD session that is not Up while packets from the peer are dropped: that is why (a TTL below minimumTtl, …)
    const lastErrorText = (s: SessionReport): string => [s.lastError, s.bfd && s.bfd.state !== 'Up' && s.bfd.lastDropped !== undefined ? `BFD drops the peer's packets: ${s.bfd.lastDropped}` : undefined]
      .filter((x) => x !== undefined).join('; ') || '-';
    const srows = r.nodes.flatMap((n) => n.sessions.map((s) => [n.node, s.peer, s.address, s.state, s.establishedSince ?? '-', s.prefixesSent !== undefined ? String(s.prefixesSent) : '-', bfdText(s), lastErrorText(s)]));
    if (srows.length > 0) {
      out.push('');
      out.push(table(['NODE', 'PEER', 'ADDRESS', 'STATE', 'SINCE', 'PREFIXES', 'BFD', 'LAST ERROR'], srows));
    }
  }
  return `${out.join('\n')}\n`;
}

/** `baregate status [--kubeconfig] [-o json|table]`; returns the exit code. */
export async function runStatusCommand(o: { kubeconfig?: string; output: string }, write: (s: string) => void = (s) => { process.stdout.write(s); }): Promise<number> {
  if (o.output !== 'json' && o.output !== 'table') { process.stderr.write(`status: -o must be json or table, not ${o.output}\n`); return 2; }
  let client: KubeClient | undefined;
  try {
    client = KubeClient.create({ kubeconfig: o.kubeconfig, component: 'status' });
    const report = statusReport(await readStatusInputs(client), Date.now());
    write(o.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
    return 0;
  } catch (e) {
    process.stderr.write(`status: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client?.destroy();
  }
}
