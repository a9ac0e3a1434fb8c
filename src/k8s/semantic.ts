/**
 * Semantic equality of API objects, as apimachinery's `equality.Semantic`: the apiserver returns
 * objects with its own key order (Go struct order for built-in kinds, sorted keys for custom
 * resources), so comparing `JSON.stringify` output of what we would write with what it stored says
 * "different" for equal objects and turns every check for "nothing to write" into a write.
 */

/**
 * Whether two JSON values are equal: object keys in any order, a key whose value is `undefined`
 * counts as absent (JSON drops it too), arrays in order.
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!semanticEqual(a[i], b[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!Object.hasOwn(rb, k) || !semanticEqual(ra[k], rb[k])) return false;
  return true;
}
