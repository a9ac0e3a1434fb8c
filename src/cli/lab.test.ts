import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LAB_MAX_NODES } from '../../tools/lab/api.ts';
import { claim, labNamespaces, procRef, readState, release, requestControl, serveControl, type LabState } from '../../tools/lab/control.ts';
import {
  LAB_COMMANDS, LAB_NODES_MAX, NOT_A_CHECKOUT, formatProblems, labArgv, labEntry, labFlags, labPrerequisites,
  parseLabNodes, runLabCommand, type LabProbe,
} from './lab.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const linuxRoot: LabProbe = { platform: 'linux', uid: 0, has: () => true };

describe('lab prerequisites', () => {
  test('a complete Linux machine as root has none', () => {
    for (const a of ['up', 'down', 'status', 'failover'] as const) assert.deepEqual(labPrerequisites(a, linuxRoot), []);
  });

  test('not Linux: one problem that says Linux, nothing about root or packages', () => {
    const p = labPrerequisites('up', { platform: 'darwin', uid: 501, has: () => false });
    assert.equal(p.length, 1);
    assert.match(p[0]?.problem ?? '', /Linux only.*darwin/);
  });

  test('not root: says why and how, for up and for the other actions', () => {
    const up = formatProblems(labPrerequisites('up', { ...linuxRoot, uid: 1000 }));
    assert.match(up, /the lab creates network namespaces: run it as root/);
    assert.match(up, /sudo npm run lab/);
    const st = formatProblems(labPrerequisites('status', { ...linuxRoot, uid: 1000 }));
    assert.match(st, /run it as root/);
    assert.match(st, /sudo npm run -s baregate -- lab status/);
  });

  test('each missing command is named with its Debian package and the install command', () => {
    for (const c of LAB_COMMANDS) {
      const p = labPrerequisites('up', { ...linuxRoot, has: (x) => x !== c.cmd });
      assert.equal(p.length, 1, c.cmd);
      assert.match(p[0]?.problem ?? '', new RegExp(`\`${c.cmd}\` is not installed`));
      assert.match(p[0]?.fix ?? '', new RegExp(`apt-get install ${c.pkg}`));
      assert.match(p[0]?.fix ?? '', /tools\/setup\.sh --k8s/);
    }
  });

  test('status, down and failover do not need the lab\'s commands (they only talk to a running lab)', () => {
    for (const a of ['down', 'status', 'failover'] as const) assert.deepEqual(labPrerequisites(a, { ...linuxRoot, has: () => false }), []);
  });

  test('runLabCommand prints the problems and returns 2 without starting anything', async () => {
    let out = '';
    const code = await runLabCommand('up', { nodes: 3, once: false }, { root: ROOT, probe: { platform: 'linux', uid: 1000, has: (c) => c !== 'nft' }, write: (s) => { out += s; } });
    assert.equal(code, 2);
    assert.match(out, /run it as root/);
    assert.match(out, /`nft` is not installed.*\n {2}fix: sudo apt-get install nftables/);
    assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
  });
});

describe('lab arguments', () => {
  test('--nodes accepts exactly the whole numbers 1..LAB_MAX_NODES (the lab\'s own bound)', () => {
    assert.equal(LAB_NODES_MAX, LAB_MAX_NODES);
    for (let n = -20; n <= 40; n++) {
      if (n >= 1 && n <= LAB_MAX_NODES) assert.equal(parseLabNodes(String(n)), n);
      else assert.throws(() => parseLabNodes(String(n)), /--nodes must be a whole number from 1 to 8/);
    }
    for (const bad of ['', ' ', '2.5', '1e0', 'three', '0x2', '+2']) assert.throws(() => parseLabNodes(bad), /from 1 to 8/, bad);
  });

  test('labFlags: defaults, unknown actions, --once only with up, bad tags', () => {
    assert.deepEqual(labFlags('up', {}), { action: 'up', flags: { nodes: 3, once: false } });
    assert.deepEqual(labFlags('up', { nodes: '2', once: true, tag: 'e2e1' }), { action: 'up', flags: { nodes: 2, once: true, tag: 'e2e1' } });
    assert.match(labFlags('start', {}) as string, /unknown action "start": use one of up, down, status, failover/);
    assert.match(labFlags('status', { once: true }) as string, /--once belongs to `up`/);
    assert.match(labFlags('up', { nodes: '9' }) as string, /from 1 to 8/);
    assert.match(labFlags('up', { tag: 'Bad-Tag' }) as string, /--tag must be 1 to 6 lowercase letters or digits/);
  });

  test('labArgv passes the flags to up and nothing to the other actions', () => {
    assert.deepEqual(labArgv('up', { nodes: 2, once: true, tag: 'x' }), ['up', '--nodes', '2', '--once', '--tag', 'x']);
    assert.deepEqual(labArgv('up', { nodes: 3, once: false }), ['up', '--nodes', '3']);
    assert.deepEqual(labArgv('failover', { nodes: 5, once: false }), ['failover']);
  });

  test('from an installed package (no tools/) it says the lab runs from a source checkout, and how', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-labcli-'));
    try {
      assert.equal(labEntry(dir), undefined);
      assert.equal(labEntry(ROOT), join(ROOT, 'tools', 'lab', 'main.ts'));
      let out = '';
      assert.equal(await runLabCommand('up', { nodes: 3, once: false }, { root: dir, probe: linuxRoot, write: (s) => { out += s; } }), 2);
      assert.equal(out, NOT_A_CHECKOUT);
      assert.match(out, /runs from a source checkout/);
      assert.match(out, /sudo npm run lab/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const cli = (args: string[]): Promise<{ code: number | null; out: string }> => new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('close', (code) => { resolve({ code, out }); });
  });

  test('baregate lab: a wrong action or --nodes is a one-line error with exit code 2, no stack trace', async () => {
    const [bogus, nodes, once] = await Promise.all([cli(['lab', 'start']), cli(['lab', 'up', '--nodes', '9']), cli(['lab', 'status', '--once'])]);
    assert.notEqual(bogus.code, 0);
    assert.match(bogus.out, /Allowed choices are up, down, status, failover/);
    assert.equal(nodes.code, 2);
    assert.equal(nodes.out, 'baregate lab: --nodes must be a whole number from 1 to 8 (got "9")\n');
    assert.equal(once.code, 2);
    assert.match(once.out, /--once belongs to `up`/);
    for (const r of [bogus, nodes, once]) assert.doesNotMatch(r.out, /\n\s+at /);
  });
});

describe('lab control (run directory, state file, socket)', () => {
  const me = (): NonNullable<ReturnType<typeof procRef>> => { const r = procRef(process.pid); assert.ok(r); return r; };
  const stateOf = (owner: LabState['owner']): LabState => ({ version: 1, owner, tag: 'lab', nodes: 3, phase: 'starting', startedAt: '2026-01-01T00:00:00Z', namespaces: [], dirs: [], procs: [] });

  test('one lab at a time: a second claim sees the first running; a dead owner\'s state is stale', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bg-labrun-')), 'run');
    try {
      assert.deepEqual(claim(dir, stateOf(me())), { kind: 'claimed' });
      const second = claim(dir, stateOf(me()));
      assert.equal(second.kind, 'running');
      release(dir, me());
      assert.equal(readState(dir), undefined);
      // a state file whose owner is gone (a start time no process has)
      const ghost = { ...me(), start: '1' };
      assert.deepEqual(claim(dir, stateOf(ghost)), { kind: 'claimed' });
      const third = claim(dir, stateOf(me()));
      assert.equal(third.kind, 'stale');
      // garbage in the state file counts as stale too
      writeFileSync(join(dir, 'state.json'), '{not json');
      assert.deepEqual(claim(dir, stateOf(me())), { kind: 'stale', state: undefined });
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  test('labNamespaces: recorded names, the prefix, and names carrying the owner\'s pid; nobody else\'s', () => {
    const owner = { pid: 123456, start: '9', cmd: 'node' };
    const pid36 = (123456).toString(36);
    const names = [`bglab-${pid36}abc-sw`, `bglab-${pid36}abc-n1`, `bglab-${pid36}1abc-n1`, 'bglab-zzzzabc-n1', 'bgtp-xyz-sw', 'other', `bgl3-${pid36}abc-client`];
    assert.deepEqual(labNamespaces({ tag: 'lab', owner, namespaces: [] }, names), [`bglab-${pid36}abc-sw`, `bglab-${pid36}abc-n1`]);
    assert.deepEqual(labNamespaces({ tag: 'l3', owner, namespaces: ['other'], nsPrefix: 'bgtp-xyz' }, names), ['bgtp-xyz-sw', 'other', `bgl3-${pid36}abc-client`]);
  });

  test('a request gets the progress lines and the code; nothing listening is "absent"; a bad request is answered', async () => {
    const base = mkdtempSync(join(tmpdir(), 'bg-labsock-'));
    mkdirSync(join(base, 'run'));
    const dir = join(base, 'run');
    try {
      assert.equal(await requestControl(dir, 'status', () => undefined, 2000), 'absent');
      const server = await serveControl(dir, (op, out) => {
        if (op === 'boom') return Promise.reject(new Error('exploded'));
        out(`one ${op}`); out('two');
        return Promise.resolve(op === 'status' ? 0 : 3);
      });
      try {
        const lines: string[] = [];
        assert.equal(await requestControl(dir, 'status', (l) => lines.push(l), 5000), 0);
        assert.deepEqual(lines, ['one status', 'two']);
        const err: string[] = [];
        assert.equal(await requestControl(dir, 'boom', (l) => err.push(l), 5000), 1);
        assert.deepEqual(err, ['error: exploded']);
        assert.equal(await requestControl(dir, 'other', () => undefined, 5000), 3);
      } finally {
        await new Promise((r) => server.close(r));
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
