/**
 * The gateway integrations' I/O shell on the leader: caches in, the pure planner (plan.ts) decides, effects out
 * through narrow ports (src/k8s/gatewayports.ts): a server-side apply per Service whose intent differs from what it
 * shows, the release of fields we own on Services no integration matches any more, the guarded NodePort clean-up,
 * integration status (written only on change), events for new problems only.
 *
 * Any cache change schedules one planning pass (debounced on the injected clock), so a burst of changes costs one
 * plan. A restart changes nothing: Services already configured show what the plan asks, so nothing is written.
 *
 * The address controller asks {@link GatewayController.holdReason} before allocating a Service that has no address:
 * a gateway Service whose intent is not on it yet waits, so it never gets a random pool address before its fixed one.
 */
import type { GatewayIntegration, GatewayIntegrationStatus } from '../api/gatewayintegration.ts';
import { API_VERSION, GATEWAY_FIELD_MANAGER, GatewayEventReasons, Kinds } from '../api/keys.ts';
import type { Condition } from '../api/types.ts';
import { realClock, type Clock, type Timer } from '../clock.ts';
import { nodePortsOf, type AppliedFields, type GatewayWriter, type ServiceRef, type SpecChange } from '../k8s/gatewayports.ts';
import type { CacheSource, EventRecorder, EventType } from '../k8s/ports.ts';
import { semanticEqual } from '../k8s/semantic.ts';
import type { Logger } from '../log.ts';
import { profileMatches } from './match.ts';
import type { GatewayObject, GatewayPlan, GatewayProblem, GatewayService, GatewayWorld, PlanGateways, PlannedStatus, ServiceIntent } from './types.ts';

/** The caches the controller reads: the replica-wide ones (GatewayCaches) plus the leader's own Service cache. */
export interface GatewaySources {
  readonly integrations: CacheSource<GatewayIntegration>;
  readonly namespaces: Pick<CacheSource<unknown>, 'onChange' | 'synced'>;
  readonly namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined;
  readonly gateways: Pick<CacheSource<GatewayObject>, 'onChange' | 'list' | 'synced'>;
  readonly services: CacheSource<GatewayService>;
}

/** Settings of a {@link GatewayController}. */
export interface GatewayControllerOptions {
  readonly sources: GatewaySources;
  readonly writer: GatewayWriter;
  readonly events: EventRecorder;
  readonly plan: PlanGateways;
  /** The pool an IP lies in (AddressController.poolOf: the allocator's parsed pools). */
  readonly poolOf: (ip: string) => string | undefined;
  /** Reconcile a Service in the address controller again (a hold answer changed). */
  readonly requeue: (key: string) => void;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Debounce of planning passes, ms (default 100). */
  readonly debounceMs?: number;
  /** Caches whose changes also re-plan (the allocator's pools: poolOf changes with them). */
  readonly alsoWatch?: readonly Pick<CacheSource<unknown>, 'onChange'>[];
}

const keyOf = (m: { namespace?: string; name: string }): string => `${m.namespace ?? ''}/${m.name}`;

/** The fields GATEWAY_FIELD_MANAGER owns by apply on a Service: annotation keys and spec field names. */
export function ownedFields(svc: GatewayService): { annotations: string[]; spec: string[] } {
  const out = { annotations: [] as string[], spec: [] as string[] };
  for (const e of svc.metadata.managedFields ?? []) {
    if (e.manager !== GATEWAY_FIELD_MANAGER || e.operation !== 'Apply') continue;
    const f = e.fieldsV1 as { 'f:metadata'?: { 'f:annotations'?: Record<string, unknown> }; 'f:spec'?: Record<string, unknown> } | undefined;
    for (const k of Object.keys(f?.['f:metadata']?.['f:annotations'] ?? {})) if (k.startsWith('f:')) out.annotations.push(k.slice(2));
    for (const k of Object.keys(f?.['f:spec'] ?? {})) if (k.startsWith('f:')) out.spec.push(k.slice(2));
  }
  return out;
}

/** Whether applying `intent` would change the Service: a value it asks for is not shown, or we own a field it drops. */
export function intentDiffers(svc: GatewayService, intent: ServiceIntent): boolean {
  const a = svc.metadata.annotations ?? {};
  for (const [k, v] of Object.entries(intent.annotations)) if (a[k] !== v) return true;
  if (intent.allocateLoadBalancerNodePorts === false && svc.spec?.allocateLoadBalancerNodePorts !== false) return true;
  if (intent.externalTrafficPolicy !== undefined && svc.spec?.externalTrafficPolicy !== intent.externalTrafficPolicy) return true;
  const owned = ownedFields(svc);
  if (owned.annotations.some((k) => !(k in intent.annotations))) return true;
  if (owned.spec.includes('allocateLoadBalancerNodePorts') && intent.allocateLoadBalancerNodePorts === undefined) return true;
  return owned.spec.includes('externalTrafficPolicy') && intent.externalTrafficPolicy === undefined;
}

/** The status to write: planned conditions with the lastTransitionTime of an unchanged condition status kept. */
export function statusFor(integ: GatewayIntegration, planned: PlannedStatus, nowIso: string): GatewayIntegrationStatus {
  const prev = integ.status?.conditions ?? [];
  const conditions: Condition[] = planned.conditions.map((c) => {
    const old = prev.find((p) => p.type === c.type);
    return {
      type: c.type, status: c.status, reason: c.reason, message: c.message,
      lastTransitionTime: old?.status === c.status ? old.lastTransitionTime : nowIso,
      ...(integ.metadata.generation !== undefined ? { observedGeneration: integ.metadata.generation } : {}),
    };
  });
  return {
    ...(integ.metadata.generation !== undefined ? { observedGeneration: integ.metadata.generation } : {}),
    services: planned.services.map((s) => ({ ...s })),
    conditions,
  };
}

function refOf(svc: GatewayService): ServiceRef {
  return { namespace: svc.metadata.namespace ?? '', name: svc.metadata.name, uid: svc.metadata.uid };
}

/** The fields an intent owns, as the apply sends them. */
function fieldsOf(intent: ServiceIntent): AppliedFields {
  return {
    annotations: intent.annotations,
    ...(intent.allocateLoadBalancerNodePorts === false ? { allocateLoadBalancerNodePorts: false as const } : {}),
    ...(intent.externalTrafficPolicy !== undefined ? { externalTrafficPolicy: intent.externalTrafficPolicy } : {}),
  };
}

function withoutTimes(s: unknown): unknown {
  return JSON.parse(JSON.stringify(s ?? {}, (k, v: unknown) => (k === 'lastTransitionTime' ? undefined : v)));
}

/** See the module comment. */
export class GatewayController {
  private readonly clock: Clock;
  private timer: Timer | undefined;
  private running = false;
  private passing: Promise<void> | undefined;
  private dirty = false;
  private lastPlan: GatewayPlan | undefined;
  /** The Services the last plan was made from. */
  private planned = new Set<string>();
  private retryMs = 0;
  /** Problems reported so far (target+reason+message): an event goes out only for a new one. */
  private reported = new Set<string>();
  /** Per Service: the conflict message last reported (one FieldConflict event per change). */
  private readonly conflicts = new Map<string, string>();
  /** Per Service: uid + nodePorts after a confirmed clean-up that left some (not retried until they change). */
  private readonly remaining = new Map<string, string>();
  /** Services told GatewayConfigured by this replica. */
  private readonly told = new Set<string>();
  /** Services the address controller was told to wait for. */
  private readonly held = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  /** Write requests made (applies, clean-ups, status patches), for tests and the restart check. */
  writes = 0;
  /** Planning passes run. */
  passes = 0;

  constructor(private readonly o: GatewayControllerOptions) {
    this.clock = o.clock ?? realClock;
    const s = o.sources;
    const kick = (): void => { this.schedule(); };
    s.integrations.onChange(kick);
    s.namespaces.onChange(kick);
    s.gateways.onChange(kick);
    s.services.onChange(kick);
    for (const c of o.alsoWatch ?? []) c.onChange(kick);
  }

  /** Starts the Service cache; the first pass runs once every cache synced. The replica-wide caches run already. */
  async start(): Promise<void> {
    this.running = true;
    this.o.sources.services.start();
    await Promise.all([this.o.sources.services.synced, this.o.sources.integrations.synced, this.o.sources.namespaces.synced, this.o.sources.gateways.synced]);
    if (!this.isRunning()) return;
    this.schedule(0);
  }

  /** Stops passes (one under way finishes without further writes) and the Service cache. */
  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.o.sources.services.stop();
    this.wakeIdle();
  }

  private isRunning(): boolean {
    return this.running;
  }

  /** Resolves when no pass is scheduled or running (tests). */
  idle(): Promise<void> {
    if (!this.timer && !this.passing) return Promise.resolve();
    return new Promise((r) => { this.idleWaiters.push(r); });
  }

  private wakeIdle(): void {
    if (this.timer || this.passing) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /**
   * For the address controller's `hold`: why a Service without an address must wait for us, or undefined. Before the
   * first plan: any integration matching it (a restart must not allocate it wrongly). After: the plan matches it and
   * its intent's annotations are not on it yet, or its integration's input is bad (`keep`).
   */
  holdReason = (svc: GatewayService): string | undefined => {
    const key = keyOf(svc.metadata);
    const why = this.why(svc, key);
    if (why !== undefined) this.held.add(key); else this.held.delete(key);
    return why;
  };

  private why(svc: GatewayService, key: string): string | undefined {
    const s = this.o.sources;
    // before the first plan, and for a Service the last plan did not see yet (created since): any matching integration
    if (!this.lastPlan || !this.planned.has(key)) {
      const integ = s.integrations.list().find((i) => profileMatches(i, svc, s.gateways.list(), s.namespaceLabels).matched);
      return integ ? `waiting for gateway integration ${integ.metadata.name}` : undefined;
    }
    const intent = this.lastPlan.services.get(key);
    if (intent === undefined) return undefined;
    if (intent === 'keep') return 'waiting: its gateway integration\'s input cannot be honoured (see the integration\'s conditions)';
    const a = svc.metadata.annotations ?? {};
    const missing = Object.entries(intent.annotations).some(([k, v]) => a[k] !== v);
    return missing ? `waiting for gateway integration ${intent.integration}` : undefined;
  }

  private schedule(ms = this.o.debounceMs ?? 100): void {
    if (!this.running) return;
    if (this.passing) { this.dirty = true; return; }
    if (this.timer) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const run: Promise<void> = this.pass()
        .catch((e: unknown) => { this.o.log.error({ event: 'gateway_pass_bug', err: String(e) }, 'gateway planning pass threw'); this.dirty = true; })
        .finally(() => {
          this.passing = undefined;
          if (this.dirty) { this.dirty = false; this.schedule(); }
          this.wakeIdle();
        });
      this.passing = run;
    }, ms);
  }

  /** A write failed: plan again after a capped backoff (1 s doubling to 30 s). */
  private retryLater(): void {
    this.retryMs = Math.min(Math.max(this.retryMs * 2, 1000), 30_000);
    const ms = this.retryMs;
    this.clock.setTimeout(() => { this.schedule(0); }, ms);
  }

  private world(): GatewayWorld {
    const s = this.o.sources;
    return { integrations: s.integrations.list(), services: s.services.list(), gateways: s.gateways.list(), namespaceLabels: s.namespaceLabels, poolOf: this.o.poolOf };
  }

  private async pass(): Promise<void> {
    if (!this.running) return;
    this.passes++;
    const world = this.world();
    const plan = this.o.plan(world);
    const firstPlan = this.lastPlan === undefined;
    this.lastPlan = plan;
    this.planned = new Set(world.services.map((x) => keyOf(x.metadata)));
    let failed = false;
    const svcs = this.o.sources.services;
    for (const [key, intent] of plan.services) {
      if (!this.isRunning()) return;
      const svc = svcs.get(key);
      if (!svc || intent === 'keep') continue;
      if (!(await this.configure(key, svc, intent))) failed = true;
    }
    // fields we own on Services no integration matches any more
    for (const svc of svcs.list()) {
      const key = keyOf(svc.metadata);
      if (plan.services.has(key) || svc.metadata.deletionTimestamp !== undefined) continue;
      const owned = ownedFields(svc);
      if (owned.annotations.length === 0 && owned.spec.length === 0) continue;
      if (!this.isRunning()) return;
      this.writes++;
      const r = await this.o.writer.applyService(refOf(svc), {});
      if (r.kind === 'ok') svcs.update(r.object);
      else if (r.kind !== 'gone') { failed = true; this.o.log.warn({ event: 'gateway_release_failed', service: key, err: r.message }, 'releasing our Service fields failed'); }
    }
    for (const key of [...this.conflicts.keys()]) if (!plan.services.has(key)) this.conflicts.delete(key);
    for (const key of [...this.remaining.keys()]) if (!plan.services.has(key)) this.remaining.delete(key);
    for (const key of [...this.told]) if (!plan.services.has(key)) this.told.delete(key);
    if (!(await this.writeStatuses(plan))) failed = true;
    this.reportProblems(plan.problems);
    // Services that waited for us may go on now (also after the first plan, which replaces the blanket hold)
    for (const key of [...this.held]) {
      const svc = svcs.get(key);
      if (!svc || this.why(svc, key) === undefined || firstPlan) { this.held.delete(key); this.o.requeue(key); }
    }
    if (failed) this.retryLater(); else this.retryMs = 0;
  }

  /**
   * Carries out one intent: first the spec fields by a guarded update when the Service does not show them (or its
   * NodePorts are due to go): the creator owns their defaults, so an apply of another value would conflict; then an
   * apply of our fields when they differ from what the Service shows (the spec values then match: co-owned, no
   * conflict). False: retry later.
   */
  private async configure(key: string, svc: GatewayService, intent: ServiceIntent): Promise<boolean> {
    const svcs = this.o.sources.services;
    let cur = svc;
    const ref = refOf(svc);
    const wasOurs = ownedFields(svc);
    const configured = (): void => {
      if (wasOurs.annotations.length > 0 || wasOurs.spec.length > 0 || this.told.has(key)) return;
      this.told.add(key);
      const what = Object.entries(intent.annotations).map(([k, v]) => `${k}=${v}`);
      if (intent.allocateLoadBalancerNodePorts === false) what.push('allocateLoadBalancerNodePorts=false');
      if (intent.externalTrafficPolicy !== undefined) what.push(`externalTrafficPolicy=${intent.externalTrafficPolicy}`);
      this.event(cur, 'Normal', GatewayEventReasons.GatewayConfigured, `gateway integration ${intent.integration} set ${what.join(', ')}`);
    };
    const ports = nodePortsOf(svc);
    const sig = `${svc.metadata.uid ?? ''}|${ports.join(',')}`;
    const clear = intent.clearNodePorts && ports.length > 0 && this.remaining.get(key) !== sig;
    const change: SpecChange = {
      clearNodePorts: clear,
      ...(intent.allocateLoadBalancerNodePorts === false && svc.spec?.allocateLoadBalancerNodePorts !== false ? { allocateLoadBalancerNodePorts: false as const } : {}),
      ...(intent.externalTrafficPolicy !== undefined && svc.spec?.externalTrafficPolicy !== intent.externalTrafficPolicy ? { externalTrafficPolicy: intent.externalTrafficPolicy } : {}),
    };
    if (!intent.clearNodePorts) this.remaining.delete(key);
    if (change.clearNodePorts || change.allocateLoadBalancerNodePorts !== undefined || change.externalTrafficPolicy !== undefined) {
      if (!this.isRunning()) return true;
      this.writes++;
      const c = await this.o.writer.guardedUpdate(ref, change);
      if (c.kind === 'gone') return true;
      if (c.kind === 'conflict') return false; // changed between read and update: again next pass
      if (c.kind === 'failed') { this.o.log.warn({ event: 'gateway_update_failed', service: key, err: c.message }, 'guarded Service update failed; will retry'); return false; }
      svcs.update(c.object);
      cur = c.object;
      if (clear) {
        if (c.remaining.length > 0) {
          this.remaining.set(key, `${c.object.metadata.uid ?? ''}|${c.remaining.join(',')}`);
          this.event(cur, 'Warning', GatewayEventReasons.NodePortsRemaining, `the apiserver kept NodePorts ${c.remaining.join(', ')} after the clean-up (gateway integration ${intent.integration})`);
        } else {
          this.remaining.delete(key);
          this.event(cur, 'Normal', GatewayEventReasons.NodePortsRemoved, `removed NodePorts ${ports.join(', ')} (gateway integration ${intent.integration}); confirmed by reading the Service back`);
        }
      }
      if (!intentDiffers(cur, intent)) configured();
    }
    if (!intentDiffers(cur, intent)) return true;
    if (!this.isRunning()) return true;
    this.writes++;
    const r = await this.o.writer.applyService(refOf(cur), fieldsOf(intent));
    if (r.kind === 'gone') return true;
    if (r.kind === 'failed') { this.o.log.warn({ event: 'gateway_apply_failed', service: key, err: r.message }, 'applying gateway fields failed; will retry'); return false; }
    if (r.kind === 'conflict') {
      if (this.conflicts.get(key) !== r.message) {
        this.conflicts.set(key, r.message);
        this.event(cur, 'Warning', GatewayEventReasons.FieldConflict, `gateway integration ${intent.integration}: another field manager owns a field with another value; not forcing: ${r.message}`);
      }
      return true;
    }
    this.conflicts.delete(key);
    svcs.update(r.object);
    cur = r.object;
    configured();
    this.o.requeue(key);
    return true;
  }

  /** Writes each integration's status when it differs from what it shows (timestamps aside). False: retry later. */
  private async writeStatuses(plan: GatewayPlan): Promise<boolean> {
    let ok = true;
    const now = new Date(this.clock.wall()).toISOString();
    for (const [name, planned] of plan.statuses) {
      const integ = this.o.sources.integrations.get(name);
      if (!integ || integ.metadata.deletionTimestamp !== undefined) continue;
      const status = statusFor(integ, planned, now);
      if (semanticEqual(withoutTimes(integ.status), withoutTimes(status))) continue;
      if (!this.isRunning()) return ok;
      this.writes++;
      const r = await this.o.writer.integrationStatus(name, status);
      if (r.kind === 'ok') this.o.sources.integrations.update(r.object);
      else if (r.kind === 'failed') { ok = false; this.o.log.warn({ event: 'gateway_status_failed', integration: name, err: r.message }, 'integration status write failed; will retry'); }
    }
    return ok;
  }

  /** One Warning event per new problem; a problem that goes and comes back is new again. */
  private reportProblems(problems: readonly GatewayProblem[]): void {
    const next = new Set<string>();
    for (const p of problems) {
      const id = `${p.target.kind}\0${p.target.namespace ?? ''}\0${p.target.name}\0${p.reason}\0${p.message}`;
      next.add(id);
      if (this.reported.has(id)) continue;
      this.o.events.record(this.targetOf(p.target), 'Warning', p.reason, p.message);
    }
    this.reported = next;
  }

  private targetOf(t: GatewayProblem['target']): { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string } } {
    const ns = t.namespace !== undefined ? { namespace: t.namespace } : {};
    if (t.kind === 'Service') {
      const svc = this.o.sources.services.get(keyOf({ ...ns, name: t.name }));
      return { apiVersion: 'v1', kind: 'Service', metadata: { name: t.name, ...ns, ...(svc?.metadata.uid !== undefined ? { uid: svc.metadata.uid } : {}) } };
    }
    if (t.kind === 'Gateway') return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: t.name, ...ns } };
    const integ = this.o.sources.integrations.get(t.name);
    return { apiVersion: API_VERSION, kind: Kinds.GatewayIntegration.kind, metadata: { name: t.name, ...(integ?.metadata.uid !== undefined ? { uid: integ.metadata.uid } : {}) } };
  }

  private event(svc: GatewayService, type: EventType, reason: string, message: string): void {
    const m = svc.metadata;
    this.o.events.record({ apiVersion: 'v1', kind: 'Service', metadata: { name: m.name, ...(m.namespace !== undefined ? { namespace: m.namespace } : {}), ...(m.uid !== undefined ? { uid: m.uid } : {}) } }, type, reason, message);
  }
}
