/**
 * The ownership rank: which node an L2 IP belongs to, by rendezvous (highest random weight) hashing. Every
 * speaker computes the same number for the same (node, IP) with no shared state, so speakers with the same view
 * agree on one owner without talking, and a change of the candidate set moves only the IPs it must: removing a
 * node that owns nothing moves nothing, adding one moves IPs only to it.
 *
 * The numbers are part of the wire behaviour: during a rolling upgrade old and new speakers must rank alike, so
 * the hash below is pinned by golden values in rank.test.ts and must not change casually.
 *
 * Cost: one string hash per node and per IP ({@link hashText}), then one integer mix per pair
 * ({@link mixScore}); the planner precomputes the string hashes so 10k IPs × 100 nodes is 1M cheap mixes.
 */

/** murmur3's 32-bit finaliser: full avalanche of a 32-bit value, result unsigned. */
function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** One murmur3 block step: mixes the 32-bit word `k` into the state `h`. */
function block(h: number, k: number): number {
  let x = Math.imul(k, C1);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x, C2);
  let y = h ^ x;
  y = (y << 13) | (y >>> 19);
  return (Math.imul(y, 5) + 0xe6546b64) | 0;
}

/**
 * A stable 32-bit hash of a node name or canonical IP text (FNV-1a over UTF-16 code units, then murmur3's
 * finaliser). Depends only on the text: the same in every process, independent of Map order or randomness.
 * IPs must be passed in canonical form (`src/net/ip.ts` canonicalIP), as the snapshot holds them.
 */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/**
 * The score of a node for an IP from their precomputed {@link hashText} values: murmur3 of the two words
 * (IP first), so the ranking of nodes differs per IP and is uncorrelated between IPs. Unsigned 32-bit.
 */
export function mixScore(nodeHash: number, ipHash: number): number {
  let h = 0x9747b28c;
  h = block(h, ipHash);
  h = block(h, nodeHash);
  h ^= 8;
  return fmix32(h);
}

/** The rendezvous score of `node` for `ip` (canonical IP text): the higher, the more entitled to own it. */
export function score(node: string, ip: string): number {
  return mixScore(hashText(node), hashText(ip));
}

/**
 * Whether (scoreA, nameA) ranks above (scoreB, nameB): higher score first; equal scores (1 in 2^32) go to the
 * name that sorts first by code units (not localeCompare, whose order depends on the process's locale).
 */
export function outranks(scoreA: number, nameA: string, scoreB: number, nameB: string): boolean {
  if (scoreA !== scoreB) return scoreA > scoreB;
  return nameA < nameB;
}

/**
 * A comparator putting the nodes best-first for `ip` (for `Array.prototype.sort`): the takeover engine uses it
 * to order candidates and suspects the same way the planner picks owners.
 */
export function compareForIP(ip: string): (a: string, b: string) => number {
  const ipHash = hashText(ip);
  return (a, b) => {
    if (a === b) return 0;
    const sa = mixScore(hashText(a), ipHash);
    const sb = mixScore(hashText(b), ipHash);
    return outranks(sa, a, sb, b) ? -1 : 1;
  };
}

/**
 * Which of two nodes keeps `ip` when both are seen answering for it (a duel): the one ranking higher. Both
 * sides compute the same answer from the IP and the two names alone, so the loser steps back and the winner
 * stays; no view of liveness or config is needed to settle it.
 */
export function duelWinner(ip: string, a: string, b: string): string {
  const ipHash = hashText(ip);
  return outranks(mixScore(hashText(a), ipHash), a, mixScore(hashText(b), ipHash), b) ? a : b;
}
