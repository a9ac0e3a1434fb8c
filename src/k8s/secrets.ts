/**
 * The heartbeat key Secret: the speakers sign their UDP heartbeats with it (speaker/liveness.ts), and nobody
 * should have to make one by hand or commit one to a manifest. The leading controller creates it when it is
 * absent and never touches an existing one: replacing a key that speakers use would make every speaker reject
 * every other's heartbeats until they all re-read it.
 */
import { randomBytes } from 'node:crypto';
import { APP_NAME, HEARTBEAT_SECRET, HEARTBEAT_SECRET_KEY } from '../api/keys.ts';
import type { Logger } from '../log.ts';
import { statusMessage } from './client.ts';
import type { Requester } from './ports.ts';

/** Bytes of a new heartbeat key (HMAC-SHA256: a key of the hash's size). */
export const HEARTBEAT_KEY_BYTES = 32;

/** What {@link ensureHeartbeatSecret} found or did; `failed` is retried by the caller. */
export type EnsureResult = 'exists' | 'created' | 'failed';

/**
 * Creates Secret HEARTBEAT_SECRET in `namespace` with a random key unless it exists. A create that conflicts means
 * another replica made it meanwhile: fine, `exists`. Never throws.
 */
export async function ensureHeartbeatSecret(client: Requester, namespace: string, log: Logger, timeoutMs = 5000): Promise<EnsureResult> {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  try {
    const got = await client.request('GET', `${base}/${HEARTBEAT_SECRET}`, undefined, undefined, { timeoutMs });
    if (got.status === 200) return 'exists';
    if (got.status !== 404) { log.warn({ event: 'heartbeat_secret_read_failed', err: statusMessage(got) }, 'cannot read the heartbeat Secret'); return 'failed'; }
    const r = await client.request('POST', base, {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: HEARTBEAT_SECRET, namespace, labels: { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/component': 'speaker' } },
      data: { [HEARTBEAT_SECRET_KEY]: randomBytes(HEARTBEAT_KEY_BYTES).toString('base64') },
    }, undefined, { timeoutMs });
    if (r.status === 201) { log.info({ event: 'heartbeat_secret_created', namespace }, 'heartbeat key Secret created'); return 'created'; }
    if (r.status === 409) return 'exists';
    log.warn({ event: 'heartbeat_secret_create_failed', err: statusMessage(r) }, 'cannot create the heartbeat Secret');
    return 'failed';
  } catch (e) {
    log.warn({ event: 'heartbeat_secret_failed', err: String(e) }, 'heartbeat Secret check failed');
    return 'failed';
  }
}
