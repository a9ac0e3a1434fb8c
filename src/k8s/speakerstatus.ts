/**
 * REST I/O for SpeakerStatus objects (one per node, cluster-scoped, named after the node): the speaker writes
 * its own, `baregate status` lists them all. Paths and bodies live here, next to the client, like the
 * controller's ports in ports.ts.
 *
 * A write is a JSON merge patch of `/status` (the kind has a status subresource): arrays are replaced whole,
 * so one request replaces the content. The object is created only when the patch says it does not exist, so
 * a speaker that restarts costs no create.
 */
import { API_VERSION, GROUP, Kinds, SPEAKER_LEASE_LABEL, SPEAKER_NAME, SYSTEM_NAMESPACE, VERSION } from '../api/keys.ts';
import { statusMessage, type ApiResponse } from './client.ts';
import type { Requester } from './ports.ts';

const MERGE_PATCH = 'application/merge-patch+json';

/** Collection path of SpeakerStatus objects. */
export const SPEAKER_STATUS_PATH = `/apis/${GROUP}/${VERSION}/${Kinds.SpeakerStatus.plural}`;

/** A SpeakerStatus object as read back (status left as JSON: its shape is the writer's business). */
export interface SpeakerStatusResource {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: { readonly name: string; readonly resourceVersion?: string; readonly creationTimestamp?: string };
  readonly status?: Readonly<Record<string, unknown>>;
}

/** Outcome of a read or write: `failed` carries the apiserver's message (or the transport error). */
export type SpeakerStatusResult<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'failed'; readonly message: string };

/** Per-request deadline: a status write must never hang the publisher (it retries instead). */
const TIMEOUT_MS = 10_000;

/** See the module comment. Never throws. */
export class RestSpeakerStatus {
  constructor(private readonly client: Requester, private readonly fieldManager: string = SPEAKER_NAME) {}

  /** The node's object (undefined when there is none). */
  async read(node: string): Promise<SpeakerStatusResult<SpeakerStatusResource | undefined>> {
    const r = await this.send<SpeakerStatusResource>('GET', itemPath(node));
    if (r.kind === 'failed') return r;
    if (r.value.status === 404) return { kind: 'ok', value: undefined };
    if (r.value.status !== 200) return { kind: 'failed', message: statusMessage(r.value) };
    return { kind: 'ok', value: r.value.body };
  }

  /** Replaces the node's status; creates the object first when it does not exist. */
  async write(node: string, status: Readonly<Record<string, unknown>>): Promise<SpeakerStatusResult<SpeakerStatusResource>> {
    const patch = await this.patchStatus(node, status);
    if (patch.kind === 'failed' || patch.value.status !== 404) return this.result(patch);
    const create = await this.send<SpeakerStatusResource>('POST', `${SPEAKER_STATUS_PATH}?fieldManager=${encodeURIComponent(this.fieldManager)}`,
      { apiVersion: API_VERSION, kind: Kinds.SpeakerStatus.kind, metadata: { name: node } });
    if (create.kind === 'failed') return create;
    if (create.value.status !== 201 && create.value.status !== 409) return { kind: 'failed', message: statusMessage(create.value) };
    return this.result(await this.patchStatus(node, status));
  }

  /** Every SpeakerStatus object (for `baregate status`). */
  async list(): Promise<SpeakerStatusResult<SpeakerStatusResource[]>> {
    const r = await this.send<{ items?: SpeakerStatusResource[] }>('GET', SPEAKER_STATUS_PATH);
    if (r.kind === 'failed') return r;
    if (r.value.status !== 200) return { kind: 'failed', message: statusMessage(r.value) };
    return { kind: 'ok', value: r.value.body.items ?? [] };
  }

  private patchStatus(node: string, status: Readonly<Record<string, unknown>>): Promise<SpeakerStatusResult<ApiResponse<SpeakerStatusResource>>> {
    return this.send<SpeakerStatusResource>('PATCH', `${itemPath(node)}/status?fieldManager=${encodeURIComponent(this.fieldManager)}`, { status }, MERGE_PATCH);
  }

  private result(r: SpeakerStatusResult<ApiResponse<SpeakerStatusResource>>): SpeakerStatusResult<SpeakerStatusResource> {
    if (r.kind === 'failed') return r;
    if (r.value.status !== 200) return { kind: 'failed', message: statusMessage(r.value) };
    return { kind: 'ok', value: r.value.body };
  }

  private async send<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<SpeakerStatusResult<ApiResponse<T>>> {
    try {
      return { kind: 'ok', value: await this.client.request<T>(method, path, body, contentType, { timeoutMs: TIMEOUT_MS }) };
    } catch (e) {
      return { kind: 'failed', message: e instanceof Error ? e.message : String(e) };
    }
  }
}

function itemPath(node: string): string {
  return `${SPEAKER_STATUS_PATH}/${encodeURIComponent(node)}`;
}

/** Everything `baregate status` reads: Services, SpeakerStatus objects and the speakers' Leases. */
export interface StatusInputs {
  readonly services: readonly unknown[];
  readonly statuses: readonly SpeakerStatusResource[];
  readonly leases: readonly unknown[];
}

/** Lists a collection completely (pages of 500); throws with the apiserver's message on an error answer. */
async function listAll(client: Requester, path: string, query = ''): Promise<unknown[]> {
  const out: unknown[] = [];
  let cont = '';
  do {
    const q = [query, 'limit=500', cont !== '' ? `continue=${encodeURIComponent(cont)}` : ''].filter((x) => x !== '').join('&');
    const r = await client.request<{ items?: unknown[]; metadata?: { continue?: string } }>('GET', `${path}?${q}`, undefined, undefined, { timeoutMs: 30_000 });
    if (r.status !== 200) throw new Error(`list ${path}: ${statusMessage(r)}`);
    out.push(...(r.body.items ?? []));
    cont = r.body.metadata?.continue ?? '';
  } while (cont !== '');
  return out;
}

/**
 * Reads the inputs of `baregate status`. A cluster without the SpeakerStatus CRD (no speaker installed yet)
 * gives no statuses rather than an error; anything else that fails throws.
 */
export async function readStatusInputs(client: Requester): Promise<StatusInputs> {
  const [services, statuses, leases] = await Promise.all([
    listAll(client, '/api/v1/services'),
    listAll(client, SPEAKER_STATUS_PATH).catch((e: unknown) => { if (/404|not found/i.test(String(e))) return []; throw e; }),
    listAll(client, `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases`, `labelSelector=${encodeURIComponent(SPEAKER_LEASE_LABEL)}`),
  ]);
  return { services, statuses: statuses as SpeakerStatusResource[], leases };
}
