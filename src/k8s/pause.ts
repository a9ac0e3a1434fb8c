/**
 * The allocation pause switch: {@link ALLOCATION_PAUSED_ANNOTATION} on baregate's namespace (read by the address
 * controller, src/lb/controller.ts). Written by `baregate pause` / `baregate resume` with a JSON merge patch of that
 * one annotation, so nothing else on the Namespace (labels, kubectl's bookkeeping) is touched.
 */
import { ALLOCATION_PAUSED_ANNOTATION } from '../api/keys.ts';
import { statusMessage, type KubeClient } from './client.ts';

/** What a pause or resume did. */
export type PauseResult =
  | { readonly kind: 'ok'; readonly changed: boolean; readonly createdNamespace: boolean }
  | { readonly kind: 'failed'; readonly message: string };

const REQUEST = { timeoutMs: 10_000 } as const;

/**
 * Pauses (`paused`) or resumes allocation. Pausing creates the namespace when it does not exist yet, because the
 * pause must be in place before the bundle's controller starts; resuming a namespace that does not exist changes nothing.
 */
export async function setAllocationPaused(client: KubeClient, namespace: string, paused: boolean): Promise<PauseResult> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
  const cur = await client.request<{ metadata?: { annotations?: Record<string, string> } }>('GET', path, undefined, 'application/json', REQUEST);
  if (cur.status === 404) {
    if (!paused) return { kind: 'ok', changed: false, createdNamespace: false };
    const made = await client.request('POST', '/api/v1/namespaces', {
      apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, annotations: { [ALLOCATION_PAUSED_ANNOTATION]: 'true' } },
    }, 'application/json', REQUEST);
    if (made.status === 201) return { kind: 'ok', changed: true, createdNamespace: true };
    if (made.status !== 409) return { kind: 'failed', message: `creating namespace ${namespace}: ${statusMessage(made)}` };
    // created meanwhile: annotate it below
  } else if (cur.status !== 200) {
    return { kind: 'failed', message: `reading namespace ${namespace}: ${statusMessage(cur)}` };
  } else if ((cur.body.metadata?.annotations?.[ALLOCATION_PAUSED_ANNOTATION] === 'true') === paused) {
    return { kind: 'ok', changed: false, createdNamespace: false };
  }
  const patch = { metadata: { annotations: { [ALLOCATION_PAUSED_ANNOTATION]: paused ? 'true' : null } } };
  const r = await client.request('PATCH', path, patch, 'application/merge-patch+json', REQUEST);
  if (r.status !== 200) return { kind: 'failed', message: `annotating namespace ${namespace}: ${statusMessage(r)}` };
  return { kind: 'ok', changed: true, createdNamespace: false };
}
