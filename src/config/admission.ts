/**
 * The validating admission decision for baregate.io objects: the rules between objects that the CRD schema and
 * CEL cannot express (pools sharing addresses, reversed IPv6 ranges, references to pools, peers and Secrets that
 * do not exist, duplicate peers). Pure: the webhook reads the snapshot, this decides. It runs the very
 * `parseConfig()` the controller and the speakers run (with its admission-only `crossChecks`), on the config as
 * it would be after the write, so "the webhook accepted it" and "the speakers can use it" cannot disagree.
 *
 * Which problems block: errors that name the incoming object. Problems of OTHER objects never block a write
 * (one broken advertisement stored before the webhook existed must not freeze every pool); and on UPDATE, an error
 * the object already had before, word for word, does not block either, so an object that was broken before the
 * webhook was installed can still be edited (and fixed one field at a time). A write that makes it worse, or a
 * CREATE with any error, is refused. An error a change causes in another object also names the changed object
 * (an overlap is reported on both pools, a duplicate on both peers), so it is caught on the incoming side.
 *
 * DELETE is always allowed: refusing it would make a broken config undeletable and would block namespace and CRD
 * cleanup; what a deletion breaks (an advertisement naming a deleted pool) is reported by the controller and
 * speakers as events and conditions, and the webhook configuration does not even send DELETEs.
 */
import { Kinds } from '../api/keys.ts';
import { parseConfig } from './config.ts';
import type { ConfigProblem, ConfigSnapshot } from './types.ts';

/** The part of an AdmissionReview v1 request the decision needs. */
export interface AdmissionInput {
  readonly operation: string;
  /** `request.kind.kind`. */
  readonly kind: string;
  /** `request.name` (may be empty on CREATE with generateName). */
  readonly name?: string | undefined;
  readonly object?: unknown;
  readonly oldObject?: unknown;
}

/** The decision: warnings (AdmissionResponse `warnings`) go back in both cases. */
export type AdmissionDecision =
  | { readonly allowed: true; readonly warnings: readonly string[] }
  | { readonly allowed: false; readonly message: string; readonly warnings: readonly string[] };

type SnapshotList = 'pools' | 'l2Advertisements' | 'bgpAdvertisements' | 'bgpPeers' | 'bfdProfiles';

/** The snapshot list each validated kind lives in. */
const LISTS: Readonly<Record<string, SnapshotList>> = {
  [Kinds.IPAddressPool.kind]: 'pools',
  [Kinds.L2Advertisement.kind]: 'l2Advertisements',
  [Kinds.BGPAdvertisement.kind]: 'bgpAdvertisements',
  [Kinds.BGPPeer.kind]: 'bgpPeers',
  [Kinds.BFDProfile.kind]: 'bfdProfiles',
};

/** The kinds {@link validateAdmission} has rules for (anything else is allowed as it is). */
export const VALIDATED_KINDS: readonly string[] = Object.keys(LISTS);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nameOf = (o: unknown): string => {
  const m = isObj(o) ? o.metadata : undefined;
  return isObj(m) && typeof m.name === 'string' ? m.name : '';
};

/** How a problem reads for a user: `IPAddressPool "x": spec.addresses[1]: 192.0.2.0/25 overlaps ...`. */
export function describeProblem(p: ConfigProblem): string {
  return `${p.kind} "${p.name}": ${p.field}: ${p.message}`;
}

const problemKey = (p: ConfigProblem): string => `${p.kind}\0${p.name}\0${p.severity}\0${p.field}\0${p.message}`;

/**
 * Decides one admission request against the current config (`snapshot`: every stored object of the four kinds and
 * the Secrets of baregate-system). See the module comment for which problems block.
 */
export function validateAdmission(snapshot: ConfigSnapshot, request: AdmissionInput): AdmissionDecision {
  const list = LISTS[request.kind];
  if (list === undefined || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) return { allowed: true, warnings: [] };
  if (!isObj(request.object)) return { allowed: false, message: `${request.kind}: the request carries no object`, warnings: [] };
  let incoming: Record<string, unknown> = request.object;
  let name = nameOf(incoming);
  if (name === '') {
    // CREATE with generateName: the apiserver picks the name after admission; any unused name stands in for it
    const meta = isObj(incoming.metadata) ? incoming.metadata : {};
    name = request.name !== undefined && request.name !== '' ? request.name : `${typeof meta.generateName === 'string' ? meta.generateName : ''}(generated)`;
    incoming = { ...incoming, metadata: { ...meta, name } };
  }
  const others = (snapshot[list] ?? []).filter((o) => nameOf(o) !== name);
  const before: ConfigSnapshot = request.operation === 'UPDATE' && request.oldObject !== undefined
    ? { ...snapshot, [list]: [...others, request.oldObject] }
    : { ...snapshot, [list]: others };
  const after: ConfigSnapshot = { ...snapshot, [list]: [...others, incoming] };
  const mine = (p: ConfigProblem): boolean => p.kind === request.kind && p.name === name;
  const had = new Set(request.operation === 'UPDATE' ? parseConfig(before, { crossChecks: true }).problems.filter(mine).map(problemKey) : []);
  const problems = parseConfig(after, { crossChecks: true }).problems.filter(mine);
  const warnings = problems.filter((p) => p.severity === 'warning').map(describeProblem);
  const errors = problems.filter((p) => p.severity === 'error' && !had.has(problemKey(p)));
  if (errors.length === 0) return { allowed: true, warnings };
  return { allowed: false, message: errors.map(describeProblem).join('; '), warnings };
}
