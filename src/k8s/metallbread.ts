/**
 * Reads MetalLB's configuration from a live cluster for `baregate migrate --from-cluster`: which metallb.io versions
 * the apiserver serves, every MetalLB kind in MetalLB's namespace (each at the newest version served), the legacy
 * `config` ConfigMap, and the LoadBalancer Services of all namespaces. Secrets are never read.
 *
 * A cluster without MetalLB's CRDs (the group is not served) or without the ConfigMap is a finding, not a failure;
 * an apiserver that cannot be reached or refuses a request is (it throws). Every request has a deadline.
 */
import { METALLB_GROUP, METALLB_LEGACY_CONFIGMAP, MetalLBKinds } from '../api/metallb.ts';
import { statusMessage } from './client.ts';
import type { Requester } from './ports.ts';

/** Per-request deadline (a list of every Service in a large cluster included). */
const TIMEOUT_MS = 30_000;

/** What was read. Objects carry `apiVersion` and `kind` (list items may lack them; they are set here). */
export interface MetalLBClusterRead {
  /** metallb.io versions the apiserver serves (empty: MetalLB's CRDs are not installed). */
  readonly versions: readonly string[];
  readonly objects: readonly Record<string, unknown>[];
  /** The legacy ConfigMap, when there is one. */
  readonly configMap?: Record<string, unknown>;
  /** LoadBalancer Services, all namespaces. */
  readonly services: readonly Record<string, unknown>[];
  /** What a person should know about the read (not installed, kinds not served). */
  readonly notes: readonly string[];
}

type Item = Record<string, unknown>;

/** Lists a collection completely (pages of 500); throws with the apiserver's message on an error answer. */
async function listAll(client: Requester, path: string): Promise<Item[]> {
  const out: Item[] = [];
  let cont = '';
  do {
    const q = ['limit=500', cont !== '' ? `continue=${encodeURIComponent(cont)}` : ''].filter((x) => x !== '').join('&');
    const r = await client.request<{ items?: Item[]; metadata?: { continue?: string } }>('GET', `${path}?${q}`, undefined, undefined, { timeoutMs: TIMEOUT_MS });
    if (r.status !== 200) throw new Error(`list ${path}: ${statusMessage(r)}`);
    out.push(...(r.body.items ?? []));
    cont = r.body.metadata?.continue ?? '';
  } while (cont !== '');
  return out;
}

/** The resource names served at one group version. */
async function resourcesOf(client: Requester, version: string): Promise<Set<string>> {
  const r = await client.request<{ resources?: { name?: string }[] }>('GET', `/apis/${METALLB_GROUP}/${version}`, undefined, undefined, { timeoutMs: TIMEOUT_MS });
  if (r.status === 404) return new Set();
  if (r.status !== 200) throw new Error(`GET /apis/${METALLB_GROUP}/${version}: ${statusMessage(r)}`);
  return new Set((r.body.resources ?? []).map((x) => x.name ?? '').filter((n) => n !== '' && !n.includes('/')));
}

/** See the module comment. Throws when the apiserver cannot be reached or refuses a request. */
export async function readMetalLBFromCluster(client: Requester, namespace: string): Promise<MetalLBClusterRead> {
  const notes: string[] = [];
  const g = await client.request<{ versions?: { version?: string }[] }>('GET', `/apis/${METALLB_GROUP}`, undefined, undefined, { timeoutMs: TIMEOUT_MS });
  let versions: string[] = [];
  if (g.status === 404) notes.push(`MetalLB's CRDs are not installed (the apiserver serves no ${METALLB_GROUP} group)`);
  else if (g.status !== 200) throw new Error(`GET /apis/${METALLB_GROUP}: ${statusMessage(g)}`);
  else versions = (g.body.versions ?? []).map((v) => v.version ?? '').filter((v) => v !== '').sort();

  const served = new Map<string, Set<string>>();
  for (const v of versions) served.set(v, await resourcesOf(client, v));
  const objects: Item[] = [];
  const ns = encodeURIComponent(namespace);
  for (const k of Object.values(MetalLBKinds)) {
    // the kind's versions are listed newest first: read it once, at the newest served
    const version = k.versions.find((v) => served.get(v)?.has(k.plural) === true);
    if (version === undefined) continue;
    const apiVersion = `${METALLB_GROUP}/${version}`;
    for (const item of await listAll(client, `/apis/${METALLB_GROUP}/${version}/namespaces/${ns}/${k.plural}`)) {
      objects.push({ ...item, apiVersion, kind: k.kind });
    }
  }

  const cm = await client.request<Item>('GET', `/api/v1/namespaces/${ns}/configmaps/${METALLB_LEGACY_CONFIGMAP}`, undefined, undefined, { timeoutMs: TIMEOUT_MS });
  let configMap: Item | undefined;
  if (cm.status === 200) configMap = { ...cm.body, apiVersion: 'v1', kind: 'ConfigMap' };
  else if (cm.status !== 404) throw new Error(`GET ConfigMap ${namespace}/${METALLB_LEGACY_CONFIGMAP}: ${statusMessage(cm)}`);

  const services = (await listAll(client, '/api/v1/services'))
    .filter((s) => { const spec = s.spec as { type?: unknown } | undefined; return spec?.type === 'LoadBalancer'; })
    .map((s) => ({ ...s, apiVersion: 'v1', kind: 'Service' }));
  return { versions, objects, ...(configMap ? { configMap } : {}), services, notes };
}
