/**
 * The container image (`npm run image`): builds it (warm caches make a rebuild from the same inputs a re-hash), reads
 * the OCI archive itself (config, manifest, layer listings, blob digests), then loads it into podman with a private
 * configuration and runs `baregate` inside it: version, --help, the native addon, and the speaker's nft hand-off.
 *
 * podman runs with storage, run and tmp directories of its own (vfs driver, cgroupfs, runc, low nofile/nproc
 * ulimits; CONTAINERS_CONF / CONTAINERS_STORAGE_CONF, nothing global changed), every container with
 * `--network none` (a private network namespace with only lo, deleted with the container) and `--pull=never`.
 * Without podman: skipped loudly when not root; as root (CI) tools/setup.sh installs it, so a missing podman fails.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IMAGE_REPOSITORY } from '../../src/api/keys.ts';
import { ENTRYPOINT, IMAGE_USER, ImagePaths, MediaTypes, parseLdd } from '../../tools/image/oci.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; license: string; name: string };
const reference = `${IMAGE_REPOSITORY}:${pkg.version}`;
const isRoot = process.getuid?.() === 0;
const hasPodman = !spawnSync('podman', ['--version']).error;

const podmanSkip: string | undefined = hasPodman ? undefined
  : isRoot ? undefined // as root the setup installs podman: missing is a failure, reported by the first podman test
  : 'podman is not installed (Debian: apt-get install podman runc, or run bash tools/setup.sh as root)';
if (podmanSkip) process.stderr.write(`\n*** IMAGE TESTS IN PODMAN SKIPPED: ${podmanSkip} ***\n\n`);

/** What tools/image.sh printed as its last line. */
interface BuildResult {
  reference: string;
  digest: string;
  config: string;
  archive: string;
  archiveDigest: string;
  compressedBytes: number;
  uncompressedBytes: number;
  layers: { what: string; digest: string; size: number; diffId: string; tarSize: number }[];
  inputs: { src: string; modules: string };
  seconds: number;
}

function buildImage(args: readonly string[] = []): BuildResult {
  const r = spawnSync('bash', ['tools/image.sh', ...args], { cwd: repo, encoding: 'utf8', maxBuffer: 16 << 20 });
  assert.equal(r.status, 0, `tools/image.sh ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as BuildResult;
}

/** One entry of `tar -tv` output of a layer. */
interface Entry { mode: string; owner: string; size: number; date: string; path: string }

function sha256File(file: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
}

describe('container image', () => {
  let built: BuildResult;
  let layout: string;
  const blob = (digest: string): string => join(layout, 'blobs/sha256', digest.replace(/^sha256:/, ''));
  const json = (digest: string): Record<string, unknown> => JSON.parse(readFileSync(blob(digest), 'utf8')) as Record<string, unknown>;
  const entries = new Map<string, Entry[]>();

  before(() => {
    built = buildImage();
    process.stderr.write(`image ${built.reference} ${built.digest}: ${(built.compressedBytes / 1048576).toFixed(1)} MiB compressed, ` +
      `${(built.uncompressedBytes / 1048576).toFixed(1)} MiB uncompressed, built in ${String(built.seconds)} s\n`);
    mkdirSync(join(homedir(), '.cache/baregate'), { recursive: true });
    layout = mkdtempSync(join(homedir(), '.cache/baregate/image-test-'));
    execFileSync('tar', ['-xf', join(repo, built.archive), '-C', layout]);
    for (const l of built.layers) {
      const out = execFileSync('tar', ['-tvz', '--numeric-owner', '--full-time', '-f', blob(l.digest)], { encoding: 'utf8', maxBuffer: 64 << 20 });
      entries.set(l.digest, out.trim().split('\n').map((line) => {
        const m = /^(\S{10})\s+(\d+\/\d+)\s+(\d+)\s+(\S+ \S+)\s+(.*?)(?: -> .*)?$/.exec(line);
        assert.ok(m, `unreadable tar -tv line: ${line}`);
        return { mode: m[1] ?? '', owner: m[2] ?? '', size: Number(m[3]), date: m[4] ?? '', path: m[5] ?? '' };
      }));
    }
  });
  after(() => { if (layout) rmSync(layout, { recursive: true, force: true }); });

  test('the build names the image by IMAGE_REPOSITORY and the package version, and writes dist/image/baregate-<version>.oci.tar', () => {
    assert.equal(built.reference, reference);
    assert.equal(built.archive, `dist/image/baregate-${pkg.version}.oci.tar`);
    assert.match(built.digest, /^sha256:[0-9a-f]{64}$/);
  });

  test('the archive is an OCI layout whose index names the reference and whose every blob matches its digest', () => {
    assert.deepEqual(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string; annotations: Record<string, string> }[] };
    assert.equal(index.manifests.length, 1);
    const m = index.manifests[0]!;
    assert.equal(m.digest, built.digest);
    assert.equal(m.mediaType, MediaTypes.manifest);
    assert.equal(m.annotations['org.opencontainers.image.ref.name'], reference);
    const manifest = json(built.digest) as { config: { digest: string; size: number }; layers: { digest: string; size: number; mediaType: string }[] };
    assert.equal(sha256File(blob(built.digest)), built.digest);
    assert.equal(manifest.config.digest, built.config);
    for (const d of [manifest.config, ...manifest.layers]) {
      assert.equal(sha256File(blob(d.digest)), d.digest, `blob ${d.digest}`);
      assert.equal(readFileSync(blob(d.digest)).length, d.size, `size of ${d.digest}`);
    }
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), built.layers.map(() => MediaTypes.layerGzip));
  });

  test('the config runs baregate from /app as 65532:65532 with NODE_ENV=production and the OCI labels', () => {
    const config = json(built.config) as { config: Record<string, unknown>; rootfs: { diff_ids: string[] }; os: string };
    const c = config.config;
    assert.equal(config.os, 'linux');
    assert.equal(c.User, '65532:65532');
    assert.deepEqual(c.Entrypoint, ['/usr/local/bin/node', '/app/dist/cli/main.js']);
    assert.equal(c.WorkingDir, '/app');
    assert.ok((c.Env as string[]).includes('NODE_ENV=production'));
    const labels = c.Labels as Record<string, string>;
    assert.equal(labels['org.opencontainers.image.title'], pkg.name);
    assert.equal(labels['org.opencontainers.image.version'], pkg.version);
    assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
    assert.match(labels['org.opencontainers.image.source'] ?? '', /^https:\/\//);
    assert.deepEqual(config.rootfs.diff_ids, built.layers.map((l) => l.diffId));
  });

  test('the layers hold node, nft, their libraries, the app and production node_modules, and no shell or package manager', () => {
    const all = [...entries.values()].flat();
    const paths = new Set(all.map((e) => e.path.replace(/\/$/, '')));
    for (const p of [ImagePaths.node, ImagePaths.nft, '/app/package.json', '/app/dist/cli/main.js', '/app/dist/native/index.js',
      '/app/dist/native/build/Release/baregate_native.node', '/app/node_modules/commander/package.json', '/etc/passwd']) {
      assert.ok(paths.has(p.slice(1)), `${p} is in the image`);
    }
    for (const lib of parseLdd(execFileSync('ldd', [process.execPath], { encoding: 'utf8' }), 'node')) assert.ok(paths.has(lib.slice(1)), `${lib} (node needs it)`);
    for (const p of ['bin/sh', 'usr/bin/sh', 'bin/bash', 'usr/bin/bash', 'bin/busybox', 'usr/bin/apt', 'usr/bin/dpkg', 'usr/bin/npm']) assert.ok(!paths.has(p), `${p} must not be in the image`);
    assert.ok(!all.some((e) => e.path.startsWith('app/node_modules/typescript/')), 'no dev dependency (typescript) in node_modules');
    assert.ok(!all.some((e) => e.path.startsWith('app/node_modules/fast-check/')), 'no dev dependency (fast-check) in node_modules');
    assert.ok(!all.some((e) => e.path.startsWith('app/dist/') && e.path.endsWith('.test.js')), 'no compiled tests of ours');
  });

  test('every layer entry is owned by 0:0, has the fixed mtime and is readable by all (reproducible, runs as non-root)', () => {
    for (const [digest, list] of entries) {
      for (const e of list) {
        assert.equal(e.owner, '0/0', `${e.path} in ${digest}`);
        assert.match(e.date, /^1970-01-01 00:00:00$/, `${e.path} mtime`);
        if (e.mode.startsWith('l')) continue;
        assert.equal(e.mode[7], 'r', `${e.path} (${e.mode}) readable by others`);
        assert.notEqual(e.mode[8], 'w', `${e.path} (${e.mode}) not writable by others`);
        if (e.mode.startsWith('d')) assert.equal(e.mode[9], 'x', `${e.path} (${e.mode}) searchable by others`);
      }
      assert.ok(list.length > 0, `layer ${digest} is not empty`);
    }
  });

  test('a second build from the same inputs with empty caches gives the same manifest digest', (t) => {
    const again = buildImage(['--no-cache', '--out', join(layout, 'again.oci.tar')]);
    assert.equal(again.inputs.modules, built.inputs.modules);
    // the runtime and node_modules layers do not depend on src/: always byte-identical
    assert.deepEqual(again.layers.slice(0, 2), built.layers.slice(0, 2));
    if (again.inputs.src !== built.inputs.src) {
      // someone edited src/ between the two builds (a working checkout): the app layer may differ, and must
      t.diagnostic('src/ changed between the two builds: only the runtime and modules layers were compared');
      return;
    }
    assert.deepEqual(again.layers, built.layers);
    assert.equal(again.digest, built.digest, 'manifest digest');
    assert.equal(again.archiveDigest, built.archiveDigest, 'archive digest');
  });

  describe('in podman', { skip: podmanSkip }, () => {
    let dir = '';
    let env: NodeJS.ProcessEnv = {};
    const podman = (args: readonly string[], input?: string): { code: number; stdout: string; stderr: string } => {
      const r = spawnSync('podman', args, { env, encoding: 'utf8', input, timeout: 120_000, maxBuffer: 16 << 20 });
      if (r.error) throw r.error;
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const runIn = (args: readonly string[]): { code: number; stdout: string; stderr: string } =>
      podman(['run', '--rm', '--network', 'none', '--pull', 'never', ...args]);
    const nodeEval = (code: string, opts: readonly string[] = []): { code: number; stdout: string; stderr: string } =>
      runIn([...opts, '--entrypoint', ImagePaths.node, reference, '--input-type=module', '-e', code]);

    before(() => {
      assert.ok(hasPodman, 'podman is missing though we run as root: bash tools/setup.sh installs it (podman runc)');
      dir = mkdtempSync(join(homedir(), '.cache/baregate/podman-'));
      // static_dir and volume_path stay at their defaults under graphroot: conmon's cleanup command gets --root,
      // --runroot and --tmpdir but not this file, and must find the same database (else every run waits 20 s)
      writeFileSync(join(dir, 'containers.conf'), [
        '[containers]',
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        'netns = "none"',
        'log_driver = "k8s-file"',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        'runtime = "runc"',
        `tmp_dir = "${dir}/tmp"`,
        '',
      ].join('\n'));
      writeFileSync(join(dir, 'storage.conf'), ['[storage]', 'driver = "vfs"', `graphroot = "${dir}/graph"`, `runroot = "${dir}/run"`, ''].join('\n'));
      env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
      const load = podman(['load', '-i', join(repo, built.archive)]);
      assert.equal(load.code, 0, `podman load: ${load.stderr}`);
      assert.match(load.stdout, new RegExp(`Loaded image: ${reference.replace(/[.]/g, '\\.')}`));
    });
    after(() => {
      if (!dir) return;
      podman(['rm', '--all', '--force']);
      podman(['rmi', '--all', '--force']);
      if (!isRoot) podman(['unshare', 'rm', '-rf', join(dir, 'graph')]); // rootless vfs files belong to sub-uids
      rmSync(dir, { recursive: true, force: true });
    });

    test('podman sees the image config: user 65532:65532, the baregate entrypoint, the manifest digest', () => {
      const r = podman(['image', 'inspect', reference]);
      assert.equal(r.code, 0, r.stderr);
      const [img] = JSON.parse(r.stdout) as { Digest: string; Config: { User: string; Entrypoint: string[]; WorkingDir: string } }[];
      assert.equal(img?.Digest, built.digest);
      assert.equal(img.Config.User, IMAGE_USER);
      assert.deepEqual(img.Config.Entrypoint, ENTRYPOINT);
      assert.equal(img.Config.WorkingDir, '/app');
    });

    test('`baregate version` inside the image prints the package version', () => {
      const r = runIn([reference, 'version']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), pkg.version);
    });

    test('`baregate --help` inside the image lists the controller and speaker subcommands', () => {
      const r = runIn([reference, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\s+controller\b/m);
      assert.match(r.stdout, /^\s+speaker\b/m);
    });

    test('the native addon loads and answers inside the image, as the default non-root user', () => {
      const r = nodeEval([
        "const n = await import('/app/dist/native/index.js');",
        'const fd = n._testTcpSocket(4);',
        "console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), cwd: process.cwd(), env: process.env.NODE_ENV, fd, ttl: n.getTtl(fd).ttl }));",
      ].join('\n'));
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as { uid: number; gid: number; cwd: string; env: string; fd: number; ttl: number };
      assert.deepEqual({ uid: out.uid, gid: out.gid, cwd: out.cwd, env: out.env }, { uid: 65532, gid: 65532, cwd: '/app', env: 'production' });
      assert.ok(out.fd >= 0 && out.ttl > 0, `native socket calls worked: ${r.stdout}`);
    });

    test("every subcommand's modules load in the image with the production node_modules only", () => {
      const mods = ['controller', 'speaker', 'status', 'l2announce', 'bgpannounce'].map((m) => `/app/dist/cli/${m}.js`);
      const r = nodeEval(`const out = {}; for (const m of ${JSON.stringify(mods)}) out[m] = Object.keys(await import(m)); console.log(JSON.stringify(out));`);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as Record<string, string[]>;
      assert.ok(out['/app/dist/cli/controller.js']?.includes('runControllerCommand'), r.stdout);
      assert.ok(out['/app/dist/cli/speaker.js']?.includes('runSpeakerCommand'), r.stdout);
    });

    test("the controller starts as the bundle runs it (read-only root, non-root, no capabilities) and gets as far as its kubeconfig", () => {
      const r = runIn(['--read-only', '--cap-drop', 'all', '--security-opt', 'no-new-privileges', reference,
        'controller', '--kubeconfig', '/nonexistent/kubeconfig', '--metrics-port', '0']);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /kubeconfig \/nonexistent\/kubeconfig/);
      assert.doesNotMatch(r.stdout + r.stderr, /EROFS|EACCES|read-only file system/i);
    });

    test('there is no shell to run: /bin/sh does not exist in the image', () => {
      const r = runIn(['--entrypoint', '/bin/sh', reference, '-c', 'true']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no such file or directory/i);
      const e = nodeEval("import { existsSync } from 'node:fs'; console.log(['/bin/sh', '/usr/bin/sh', '/bin/bash'].filter((p) => existsSync(p)).join(',') || 'none');");
      assert.equal(e.code, 0, e.stderr);
      assert.equal(e.stdout.trim(), 'none');
    });

    test("the speaker's nft hand-off works inside the image (root, NET_ADMIN, the container's own network namespace)", () => {
      const r = nodeEval([
        "const h = await import('/app/dist/speaker/handoff.js');",
        "const { execFileSync } = await import('node:child_process');",
        "await h.execNft()(h.handoffScript([{ ip: '192.0.2.10', device: 'lo', via: '192.0.2.1' }, { ip: '2001:db8::10', device: 'lo', via: '2001:db8::1' }]));",
        "const during = execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });",
        'await h.execNft()(h.handoffScript([]));',
        "console.log(JSON.stringify({ during, after: execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }) }));",
      ].join('\n'), ['--user', '0:0', '--cap-drop', 'all', '--cap-add', 'NET_ADMIN']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as { during: string; after: string };
      assert.match(out.during, /ip daddr 192\.0\.2\.10 .*dup to 192\.0\.2\.1 device "lo"/);
      assert.match(out.during, /ip6 daddr 2001:db8::10 .*dup to 2001:db8::1 device "lo"/);
      assert.equal(out.after.trim(), '');
    });
  });
});
