/**
 * The narrow ports a controller is given instead of a REST client: a status writer (Service status,
 * the pool annotation, pool status), an event recorder and a cache source. The controller's logic
 * then runs in unit tests against recording fakes, and every REST path and patch body lives here in
 * src/k8s, next to the client that sends them.
 */
import { CONTROLLER_NAME, GROUP, Kinds, VERSION } from '../api/keys.ts';
import { statusMessage, type ApiResponse, type KubeClient } from './client.ts';
import type { ChangeHandler } from './informer.ts';

/**
 * Outcome of one write: `ok` with the object the apiserver returned (to be put into the cache, so the
 * next reconcile does not act on a stale copy), `gone` when the object was deleted meanwhile (nothing
 * to retry), `failed` for an error answer or no answer (the caller retries).
 */
export type WriteResult<T> =
  | { readonly kind: 'ok'; readonly object: T }
  | { readonly kind: 'gone' }
  | { readonly kind: 'failed'; readonly message: string };

/** One entry of `status.loadBalancer.ingress` as the controller writes it. */
export interface IngressEntry {
  readonly ip: string;
  readonly ipMode: string;
}

/**
 * Writes the address controller makes to objects it does not own the spec of. Each call is exactly one
 * request, so counting calls counts writes.
 */
export interface StatusWriter<S, P> {
  /** Sets `status.loadBalancer.ingress` of a Service; an empty list clears it. */
  serviceIngress(namespace: string, name: string, ingress: readonly IngressEntry[]): Promise<WriteResult<S>>;
  /** Sets one annotation of a Service, or removes it when `value` is undefined. */
  serviceAnnotation(namespace: string, name: string, key: string, value: string | undefined): Promise<WriteResult<S>>;
  /** Replaces the fields of a pool's status that are given. */
  poolStatus(name: string, status: Readonly<Record<string, unknown>>): Promise<WriteResult<P>>;
}

/** What an event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/** `Normal` for what users may want to know, `Warning` for what they should act on. */
export type EventType = 'Normal' | 'Warning';

/**
 * Events for users (`kubectl describe`). Recording never blocks or fails the caller: delivery is the
 * recorder's business (background, bounded, retried). `writes` counts the requests it made, so tests
 * and the benchmark can count every write a controller causes.
 */
export interface EventRecorder {
  record(target: EventTarget, type: EventType, reason: string, message: string): void;
  /** Forgets what is known about an object's events (after the object was deleted). */
  forget(kind: string, namespace: string | undefined, name: string): void;
  /** Write requests (creates and patches) made so far. */
  readonly writes: number;
}

/** Whether a component is working; `reason` says why not. */
export interface Health {
  readonly ok: boolean;
  readonly reason?: string;
}

/**
 * A cache of one resource type fed by list+watch: what the controller reads. {@link Informer} is the
 * real one; tests feed the controller through a fake. `health`, when present, reports a cache that
 * has stopped following the cluster (a watch silent for too long): it is what /healthz shows.
 */
export interface CacheSource<T> {
  /** Resolves after the first complete list. */
  readonly synced: Promise<void>;
  /** Registers a change handler (call before start). */
  onChange(h: ChangeHandler<T>): void;
  start(): void;
  stop(): void;
  get(key: string): T | undefined;
  list(): T[];
  /** Puts an object the caller just wrote into the cache; older versions never win. */
  update(obj: T): void;
  health?(): Health;
}

/** The one method of the client the REST ports need, so their tests can pass a fake. */
export type Requester = Pick<KubeClient, 'request'>;

const MERGE_PATCH = 'application/merge-patch+json';
const poolsPath = `/apis/${GROUP}/${VERSION}/${Kinds.IPAddressPool.plural}`;

/**
 * The REST {@link StatusWriter}: JSON merge patches with our field manager, so managedFields say who
 * wrote each field. Never throws: a request without an answer is `failed`.
 */
export class RestStatusWriter<S, P> implements StatusWriter<S, P> {
  constructor(private readonly client: Requester, private readonly fieldManager: string = CONTROLLER_NAME) {}

  serviceIngress(namespace: string, name: string, ingress: readonly IngressEntry[]): Promise<WriteResult<S>> {
    return this.patch(`${servicePath(namespace, name)}/status`, { status: { loadBalancer: { ingress: ingress.length > 0 ? ingress : null } } });
  }

  serviceAnnotation(namespace: string, name: string, key: string, value: string | undefined): Promise<WriteResult<S>> {
    return this.patch(servicePath(namespace, name), { metadata: { annotations: { [key]: value ?? null } } });
  }

  poolStatus(name: string, status: Readonly<Record<string, unknown>>): Promise<WriteResult<P>> {
    return this.patch(`${poolsPath}/${encodeURIComponent(name)}/status`, { status });
  }

  private async patch<T>(path: string, body: unknown): Promise<WriteResult<T>> {
    let r: ApiResponse<T>;
    try {
      r = await this.client.request<T>('PATCH', `${path}?fieldManager=${encodeURIComponent(this.fieldManager)}`, body, MERGE_PATCH);
    } catch (e) {
      return { kind: 'failed', message: e instanceof Error ? e.message : String(e) };
    }
    if (r.status === 200) return { kind: 'ok', object: r.body };
    if (r.status === 404) return { kind: 'gone' };
    return { kind: 'failed', message: statusMessage(r) };
  }
}

function servicePath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
}

/** One RFC 6902 JSON Patch operation, as an admission response carries them. */
export interface JsonPatchOp {
  readonly op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  readonly path: string;
  readonly value?: unknown;
  readonly from?: string;
}

/**
 * What the mutating webhook asks about a Service at creation: the patch it wants (empty: leave it alone). The gateway
 * integrations implement this without knowing the webhook server; the server concatenates the answers of all
 * mutators in order. `namespace` is the request's (a new object may not carry it). Must be fast: the apiserver waits
 * at most 5 s (`failurePolicy: Ignore`), and the server answers unchanged when its handler deadline passes. A mutator
 * that cannot decide answers `[]`: the leader's controller sets the same fields a moment later.
 */
export type ServiceMutator = (service: Readonly<Record<string, unknown>>, namespace: string) => readonly JsonPatchOp[] | Promise<readonly JsonPatchOp[]>;
