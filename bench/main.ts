/**
 * `npm run bench`: prints one JSON object with every measurement (progress goes to stderr).
 * BENCH_SERVICES sets the controller's Service count, BENCH_CHURN_SERVICES the Services created under a
 * running controller, BENCH_ONLY (comma list of allocator, speaker, gateway, controller, l2, bgp, failover, speakermem, lab) runs a subset.
 */
import { allocatorBench } from './allocator.ts';
import { controllerBench } from './controller.ts';
import { bgpBench } from './bgp.ts';
import { l2Bench } from './l2.ts';
import { failoverBench } from './failover.ts';
import { gatewayBench } from './gateway.ts';
import { labBench } from './lab.ts';
import { speakerBench } from './speaker.ts';
import { speakerMemoryBench } from './speaker-memory.ts';

const n = Number(process.env.BENCH_SERVICES ?? 1000);
const churn = Number(process.env.BENCH_CHURN_SERVICES ?? 2000);
const only = (process.env.BENCH_ONLY ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
const run = (name: string): boolean => only.length === 0 || only.includes(name);
// the real clock's timers are unref'd by design: while a bench waits on one (an informer's first
// list), something must keep the process alive
const keepAlive = setInterval(() => undefined, 1 << 30);
const out: Record<string, unknown> = { node: process.version, cpus: (await import('node:os')).cpus().length };
if (run('allocator')) Object.assign(out, allocatorBench());
if (run('speaker')) Object.assign(out, await speakerBench());
if (run('gateway')) Object.assign(out, gatewayBench());
if (run('controller')) Object.assign(out, await controllerBench(n, churn));
if (run('l2')) Object.assign(out, await l2Bench());
if (run('bgp')) Object.assign(out, await bgpBench());
if (run('failover')) Object.assign(out, await failoverBench());
if (run('speakermem')) Object.assign(out, await speakerMemoryBench());
if (run('lab')) Object.assign(out, await labBench());
clearInterval(keepAlive);
console.log(JSON.stringify(out, null, 2));
