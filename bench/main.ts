/** `npm run bench`: prints one JSON object with every measurement (progress goes to stderr). */
import { allocatorBench } from './allocator.ts';
import { controllerBench } from './controller.ts';
import { bgpBench } from './bgp.ts';
import { l2Bench } from './l2.ts';

const n = Number(process.env.BENCH_SERVICES ?? 1000);
const out: Record<string, unknown> = { node: process.version, cpus: (await import('node:os')).cpus().length };
Object.assign(out, allocatorBench());
Object.assign(out, await controllerBench(n));
Object.assign(out, await l2Bench());
Object.assign(out, await bgpBench());
console.log(JSON.stringify(out, null, 2));
