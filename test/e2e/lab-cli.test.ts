/**
 * The `baregate lab` command end to end (issue 10): `lab up --once --nodes 2` brings the whole lab up, checks both
 * Services from both clients, tears down, and says so in its exit code and output; a second `up` next to a running
 * one refuses; `status` with no lab says so; `down` removes what a dead lab left. Root only (network namespaces):
 * skipped loudly otherwise. Each test uses its own run directory, so a lab a person is running is never touched.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { netlabSkip } from '../netlab/netns.ts';
import { procRef } from '../../tools/lab/control.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const skip = netlabSkip === undefined ? false : `e2e (baregate lab) ${netlabSkip}`;
if (skip) process.stderr.write(`\n*** ${skip}: lab CLI tests SKIPPED ***\n\n`);

/** Runs `baregate lab ARGS` with its own run directory; output (stdout + stderr) and exit code. */
function lab(args: string[], runDir: string, timeoutMs: number): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'lab', ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BAREGATE_LAB_RUN_DIR: runDir },
    });
    let out = '';
    const add = (d: Buffer): void => { out += d.toString(); };
    c.stdout.on('data', add);
    c.stderr.on('data', add);
    const t = setTimeout(() => { c.kill('SIGTERM'); }, timeoutMs);
    c.on('close', (code) => { clearTimeout(t); resolve({ code, out, ms: Date.now() - t0 }); });
  });
}

const namespacesWith = (prefix: string): string[] => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  .split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix));

describe('baregate lab', { skip }, () => {
  test('up --once --nodes 2: exit 0, the output names each Service IP and the answers from both clients, nothing is left', { timeout: 900_000 }, async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'bg-labrun-'));
    try {
      const r = await lab(['up', '--once', '--nodes', '2', '--tag', 'e2lc'], runDir, 840_000);
      process.stderr.write(`[e2e lab-cli] lab up --once --nodes 2: exit ${String(r.code)} in ${r.ms} ms\n${r.out}\n`);
      assert.equal(r.code, 0, 'exit code 0: traffic flowed from both clients');
      // the check table: one row per Service IP, with the node(s) announcing it and the pod's answer
      const rows = r.out.split('\n').filter((l) => /^\s+demo(-routed)?\s/.test(l));
      const l2 = rows.filter((l) => /^\s+demo\s/.test(l));
      const bgp = rows.filter((l) => /^\s+demo-routed\s/.test(l));
      assert.equal(l2.length, 2, 'demo: an IPv4 and an IPv6 row');
      assert.equal(bgp.length, 2, 'demo-routed: an IPv4 and an IPv6 row');
      assert.ok(l2.some((l) => /\s192\.0\.2\.2\d\d\s/.test(l)) && l2.some((l) => /\s2001:db8:2::2[0-9a-f]{2}\s/.test(l)), 'demo has its IPs from pool lan');
      assert.ok(bgp.some((l) => /\s198\.51\.100\.[1-3]\d\s/.test(l)) && bgp.some((l) => /\s2001:db8:5::[1-3][0-9a-f]\s/.test(l)), 'demo-routed has its IPs from pool routed');
      for (const l of l2) assert.match(l, /\bL2\s+n[12]\s+n[12]\s+client .*pod=\S+ node=n[12]/, `L2 row: one announcer, the ARP/NDP answerer, the LAN client's answer: ${l}`);
      for (const l of bgp) assert.match(l, /\bBGP\s+n[12](,n[12])?\s+-\s+wclient .*pod=\S+ node=n[12]/, `BGP row: announcers, the routed client's answer: ${l}`);
      assert.match(r.out, /Traffic flows/);
      assert.match(r.out, /Timings: lab up [\d.]+ s, demo applied and checked [\d.]+ s/);
      assert.match(r.out, /Lab down in [\d.]+ s: no namespace left/);
      assert.deepEqual(namespacesWith('bge2lc-'), [], 'no namespace of the lab left');
      assert.equal(existsSync(join(runDir, 'state.json')), false, 'state file removed');
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  test('a second up next to a running lab refuses and starts nothing; status with no lab says so', { timeout: 120_000 }, async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'bg-labrun-'));
    try {
      const none = await lab(['status'], runDir, 60_000);
      assert.equal(none.code, 1);
      assert.match(none.out, /No lab is running/);
      // this test process stands in for a running `up`: it holds the state file
      const me = procRef(process.pid);
      assert.ok(me);
      writeFileSync(join(runDir, 'state.json'), JSON.stringify({ version: 1, owner: me, tag: 'x', nodes: 3, phase: 'up', startedAt: 'now', namespaces: [], dirs: [], procs: [] }));
      const second = await lab(['up', '--once', '--tag', 'e2ld'], runDir, 60_000);
      assert.equal(second.code, 1);
      assert.match(second.out, new RegExp(`a lab is already running \\(pid ${process.pid}`));
      assert.match(second.out, /lab status shows it; .* lab down stops it/);
      assert.deepEqual(namespacesWith('bge2ld-'), []);
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  test('down after a lab died without tearing down: its namespaces and state file are removed', { timeout: 120_000 }, async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'bg-labrun-'));
    const prefix = `bge2lx-${process.pid.toString(36)}`;
    try {
      spawnSync('ip', ['netns', 'add', `${prefix}-sw`]);
      spawnSync('ip', ['netns', 'add', `${prefix}-n1`]);
      assert.equal(namespacesWith(prefix).length, 2);
      const ghost = { pid: process.pid, start: '1', cmd: 'gone' }; // a start time no live process has: the owner is dead
      writeFileSync(join(runDir, 'state.json'), JSON.stringify({ version: 1, owner: ghost, tag: 'e2lx', nodes: 1, phase: 'up', startedAt: 'then', nsPrefix: prefix, namespaces: [], dirs: [], procs: [] }));
      const st = await lab(['status'], runDir, 60_000);
      assert.equal(st.code, 1);
      assert.match(st.out, /ended without tearing down: .*lab down removes what it left/);
      const d = await lab(['down'], runDir, 60_000);
      assert.equal(d.code, 0, d.out);
      assert.match(d.out, /gone without tearing down; removing what it left/);
      assert.match(d.out, /removed 2 network namespace\(s\)/);
      assert.deepEqual(namespacesWith(prefix), []);
      assert.equal(existsSync(join(runDir, 'state.json')), false);
    } finally {
      for (const ns of namespacesWith(prefix)) spawnSync('ip', ['netns', 'del', ns]);
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
