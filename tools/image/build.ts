/**
 * `npm run image` (via tools/image.sh): builds the one container image of controller and speaker as an OCI archive,
 * with no container engine, daemon or storage driver: three deterministic GNU tar layers, gzip, and the OCI
 * config/manifest/index JSON (tools/image/oci.ts), packed as an image layout in a tar = `dist/image/baregate-<v>.oci.tar`.
 *
 *   layer 1 "runtime": this machine's node binary, nft, the shared libraries and loader `ldd` lists for them and for
 *                      the native addon, /etc/passwd + /etc/group (root, nonroot 65532). No shell, no package manager.
 *   layer 2 "modules": /app/node_modules from `npm ci --omit=dev` of package-lock.json (production dependencies only)
 *   layer 3 "app":     /app/package.json (runtime fields only), /app/dist (tsc of src/, no tests, no source maps), and
 *                      the native addon where dist/native/index.js loads it: /app/dist/native/build/Release/
 *
 * Same inputs, same digest: sorted tar entries, every mtime = SOURCE_DATE_EPOCH (default 0), owner 0:0 numeric,
 * modes normalised to readable by all, gzip with no name/time, fixed JSON key order. The compiled dist, the
 * production node_modules and each compressed layer are cached under ~/.cache/baregate/image by a hash of their
 * inputs, so a warm build only re-tars (and re-hashes) what it must.
 *
 * stdout: the reference, manifest digest and sizes, then one JSON line (the last line) for scripts.
 * stderr: the steps. Options: --out FILE (default dist/image/baregate-<version>.oci.tar), --no-cache (fresh caches
 * in a temporary directory, deleted after: what a cold build costs).
 */
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync, realpathSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { IMAGE_REPOSITORY } from '../../src/api/keys.ts';
import {
  ImagePaths, OCI_LAYOUT, imageConfig, imageIndex, imageManifest, imageReference, minNodeMajor, ociArchitecture,
  parseLdd, sourceUrl, type ImageMeta, type Layer,
} from './oci.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const started = Date.now();

function step(msg: string): void {
  process.stderr.write(`==> image: ${msg} (+${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
}
function note(msg: string): void {
  process.stderr.write(`    ${msg}\n`);
}

/** Runs a command to completion with its output on our stderr; throws with its name when it fails. */
function run(cmd: string, args: readonly string[], cwd = repo): void {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 2, 2] });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${String(r.status ?? r.signal)})`);
}

function capture(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A pass-through stream that hashes and counts what flows through it. */
class Digester extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** A sink that throws the bytes away (they were only hashed). */
function discard(): Writable {
  return new Writable({ write(_chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void { cb(); } });
}

/** GNU tar arguments that make the archive a function of the file contents and names only. */
function tarArgs(epoch: number, root: string, entries: readonly string[]): string[] {
  return [
    '--create', '--file=-', '--format=gnu', '--sort=name', '--numeric-owner', '--owner=0', '--group=0',
    `--mtime=@${epoch}`, '--mode=u+rwX,go+rX,go-w', '--no-acls', '--no-xattrs', '--no-selinux',
    '--directory', root, ...entries,
  ];
}

/** Streams `tar` of `entries` under `root` into `sink`; resolves when tar exited 0 and the sink finished. */
async function tarInto(epoch: number, root: string, entries: readonly string[], sink: (tar: Readable) => Promise<void>): Promise<void> {
  const child = spawn('tar', tarArgs(epoch, root, entries), { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<void>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code) => { if (code === 0) res(); else rej(new Error(`tar in ${root} failed (exit ${String(code)}): ${err.trim()}`)); });
  });
  await Promise.all([sink(child.stdout), exited]);
}

/** Caches: the directory, whether it is a throw-away one (--no-cache). */
interface Cache { dir: string; temporary: boolean }

/** Marks a cache entry as used now, so the pruning at the end keeps it. */
async function touch(path: string): Promise<void> {
  const now = new Date();
  await utimes(path, now, now).catch(() => undefined);
}

/**
 * One layer: tar once to learn the uncompressed digest (cheap), reuse the gzip blob cached under that digest, else
 * tar again through gzip into the cache. Returns the layer with its blob path.
 */
async function buildLayer(what: string, root: string, entries: readonly string[], epoch: number, cache: Cache): Promise<Layer & { blob: string }> {
  const d = new Digester();
  await tarInto(epoch, root, entries, async (tar) => { await pipeline(tar, d, discard()); });
  const diffHex = d.hex();
  const tarSize = d.bytes;
  const blobs = join(cache.dir, 'layers');
  await mkdir(blobs, { recursive: true });
  const metaFile = join(blobs, `${diffHex}.json`);
  if (existsSync(metaFile)) {
    const m = JSON.parse(readFileSync(metaFile, 'utf8')) as { digest: string; size: number };
    const blob = join(blobs, `${diffHex}.tar.gz`);
    if (existsSync(blob)) {
      await touch(metaFile); await touch(blob);
      note(`${what}: ${mib(tarSize)} tar, cached gzip blob ${m.digest.slice(0, 19)}… (${mib(m.size)})`);
      return { what, diffId: `sha256:${diffHex}`, tarSize, digest: m.digest, size: m.size, blob };
    }
  }
  const tmp = join(blobs, `.${diffHex}.${process.pid}.tmp`);
  const z = new Digester();
  const check = new Digester();
  await tarInto(epoch, root, entries, async (tar) => {
    // level 6: level 9 is ~3x slower on the node binary for ~1% less
    await pipeline(tar, check, createGzip({ level: 6 }), z, createWriteStream(tmp));
  });
  if (check.hex() !== diffHex) throw new Error(`layer ${what}: two tars of the same tree differ: the build is not deterministic`);
  const blob = join(blobs, `${diffHex}.tar.gz`);
  await rename(tmp, blob);
  const digest = `sha256:${z.hex()}`;
  await writeFile(metaFile, JSON.stringify({ digest, size: z.bytes }));
  note(`${what}: ${mib(tarSize)} tar, ${mib(z.bytes)} gzip`);
  return { what, diffId: `sha256:${diffHex}`, tarSize, digest, size: z.bytes, blob };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/** All regular files under `dir` (relative, sorted), skipping `skip` (directory names). */
async function listFiles(dir: string, skip: ReadonlySet<string>, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (!skip.has(e.name)) out.push(...await listFiles(p, skip, base)); } else if (e.isFile()) out.push(relative(base, p));
  }
  return out;
}

/** Copies `from` to `to` (following symlinks), making parents; keeps it executable when it was. */
async function place(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await copyFile(from, to);
  const mode = (await stat(from)).mode & 0o777;
  await chmod(to, mode & 0o111 ? 0o755 : 0o644);
}

/** Finds a program on PATH (plus the sbin directories, which a non-login root PATH may lack). */
function which(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'].filter((d) => d !== '');
  for (const d of dirs) {
    const f = join(d, name);
    if (existsSync(f)) return realpathSync(f);
  }
  throw new Error(`${name} is not installed (on Debian: bash tools/setup-debian.sh ${name === 'nft' ? 'nftables' : name})`);
}

interface Options { out: string | undefined; noCache: boolean }

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { out: undefined, noCache: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-cache') o.noCache = true;
    else if (a === '--out') { o.out = argv[++i]; if (o.out === undefined) throw new Error('--out needs a file'); }
    else throw new Error(`unknown argument ${String(a)} (usage: tools/image.sh [--out FILE] [--no-cache])`);
  }
  return o;
}

/** Removes cache entries (compiled dists, module trees, layer blobs, stale work trees) not used for a day: the cache stays bounded. */
async function prune(cache: Cache): Promise<void> {
  const dayAgo = Date.now() - 86_400_000;
  // work trees of builds that were killed before their cleanup ran
  for (const name of await readdir(cache.dir)) {
    if (!name.startsWith('work-')) continue;
    const s = await stat(join(cache.dir, name)).catch(() => undefined);
    if (s && s.mtimeMs < dayAgo) await rm(join(cache.dir, name), { recursive: true, force: true });
  }
  for (const sub of ['dist', 'modules', 'layers']) {
    const dir = join(cache.dir, sub);
    if (!existsSync(dir)) continue;
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      const s = await stat(p).catch(() => undefined);
      if (s && s.mtimeMs < dayAgo) await rm(p, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, unknown> & {
    name: string; version: string; description?: string; license?: string; engines?: { node?: string }; repository?: unknown;
  };
  const epochText = process.env.SOURCE_DATE_EPOCH ?? '0';
  const epoch = Number(epochText);
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds, not ${epochText}`);
  const meta: ImageMeta = {
    repository: IMAGE_REPOSITORY,
    version: pkg.version,
    title: pkg.name,
    description: pkg.description ?? '',
    licenses: pkg.license ?? '',
    source: sourceUrl(IMAGE_REPOSITORY, pkg.repository),
    architecture: ociArchitecture(process.arch),
    epoch,
  };
  const out = resolve(opts.out ?? join(repo, 'dist/image', `baregate-${pkg.version}.oci.tar`));

  const nodeBin = realpathSync(process.execPath);
  // this script is part of every cache key: a change in how a tree is made must not reuse a tree made the old way
  const recipe = readFileSync(fileURLToPath(import.meta.url));
  const major = Number(process.versions.node.split('.')[0]);
  const min = minNodeMajor(pkg.engines?.node);
  if (min !== undefined && major < min) throw new Error(`node ${process.version} is older than engines.node ${String(pkg.engines?.node)}`);
  const nftBin = which('nft');

  await mkdir(join(homedir(), '.cache/baregate'), { recursive: true });
  const cache: Cache = opts.noCache
    ? { dir: await mkdtemp(join(homedir(), '.cache/baregate/image-nocache-')), temporary: true }
    : { dir: join(homedir(), '.cache/baregate/image'), temporary: false };
  await mkdir(cache.dir, { recursive: true });
  const work = await mkdtemp(join(cache.dir, 'work-'));
  try {
    step(`${imageReference(meta)} for linux/${meta.architecture}: node ${process.version} (${nodeBin}), ${nftBin}${cache.temporary ? ', no cache' : ''}`);

    // ── native addon: built (or found up to date) with the project's own script
    step('native addon (tools/build-native.sh)');
    run('bash', ['tools/build-native.sh']);
    const addon = join(repo, 'src/native/build/Release/baregate_native.node');

    // ── compiled JavaScript, cached by a hash of everything tsc reads
    step('compile src/ (tsc -p tsconfig.build.json)');
    const srcFiles = (await listFiles(join(repo, 'src'), new Set(['build', 'node_modules']))).filter((f) => !f.endsWith('.test.ts'));
    const h = createHash('sha256').update(recipe);
    for (const f of ['tsconfig.json', 'tsconfig.build.json', 'node_modules/typescript/package.json']) h.update(`${f}\0`).update(readFileSync(join(repo, f))).update('\0');
    for (const f of srcFiles) h.update(`src/${f}\0`).update(readFileSync(join(repo, 'src', f))).update('\0');
    const srcKey = h.digest('hex').slice(0, 32);
    const distDir = join(cache.dir, 'dist', srcKey);
    if (existsSync(distDir)) {
      await touch(distDir);
      note(`up to date (${String(srcFiles.length)} source files unchanged): ${distDir}`);
    } else {
      const tmp = `${distDir}.${String(process.pid)}.tmp`;
      await rm(tmp, { recursive: true, force: true });
      run(join(repo, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', tmp, '--sourceMap', 'false']);
      await mkdir(dirname(distDir), { recursive: true });
      await rename(tmp, distDir);
    }

    // ── production node_modules from the lock file, cached by the lock file
    step('production node_modules (npm ci --omit=dev)');
    const lock = readFileSync(join(repo, 'package-lock.json'));
    const modKey = sha256(Buffer.concat([recipe, lock, Buffer.from(JSON.stringify(pkg.dependencies ?? {})), Buffer.from(process.versions.node.split('.')[0] ?? '')])).slice(0, 32);
    const modRoot = join(cache.dir, 'modules', modKey);
    if (existsSync(join(modRoot, 'app/node_modules'))) {
      await touch(modRoot);
      note(`up to date (package-lock.json unchanged): ${modRoot}`);
    } else {
      const tmp = `${modRoot}.${String(process.pid)}.tmp`;
      await rm(tmp, { recursive: true, force: true });
      await mkdir(join(tmp, 'app'), { recursive: true });
      await copyFile(join(repo, 'package.json'), join(tmp, 'app/package.json'));
      await copyFile(join(repo, 'package-lock.json'), join(tmp, 'app/package-lock.json'));
      run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'], join(tmp, 'app'));
      await rm(join(tmp, 'app/package.json'));
      await rm(join(tmp, 'app/package-lock.json'));
      await rm(join(tmp, 'app/node_modules/.bin'), { recursive: true, force: true }); // CLIs of dependencies: not needed to run
      // TypeScript sources, declarations and source maps of the dependencies: node never reads them at run time, and
      // they are half of the tree (@kubernetes/client-node ships its generated .ts next to the .js)
      const dropped = await dropFiles(join(tmp, 'app/node_modules'), /\.(?:[cm]?ts|map)$/);
      note(`dropped ${String(dropped.count)} .ts/.d.ts/.map files (${mib(dropped.bytes)}) that node does not load`);
      await rename(tmp, modRoot);
    }

    // ── the runtime tree: node, nft, their libraries and the addon's
    step('runtime: node, nft and the shared libraries ldd lists');
    const runtime = join(work, 'runtime');
    await place(nodeBin, join(runtime, ImagePaths.node));
    await place(nftBin, join(runtime, ImagePaths.nft));
    const libs = new Set<string>();
    for (const f of [nodeBin, nftBin, addon]) for (const l of parseLdd(capture('ldd', [f]), f)) libs.add(l);
    for (const l of [...libs].sort()) await place(l, join(runtime, l));
    note(`${String(libs.size)} libraries: ${[...libs].sort().map((l) => l.split('/').pop()).join(' ')}`);
    await mkdir(join(runtime, 'etc'), { recursive: true });
    await writeFile(join(runtime, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/app:/sbin/nologin\n');
    await writeFile(join(runtime, 'etc/group'), 'root:x:0:\nnonroot:x:65532:\n');

    // ── the app tree: package.json (what node reads at run time) and dist with the addon
    step('app: package.json, dist/, native addon');
    const app = join(work, 'app');
    await mkdir(join(app, 'app'), { recursive: true });
    // hard links into the cache (nothing is copied; tar reads them as plain files), a copy across filesystems
    await copyTree(distDir, join(app, 'app/dist'));
    await place(addon, join(app, 'app/dist/native/build/Release/baregate_native.node'));
    const runtimePkg: Record<string, unknown> = {};
    for (const k of ['name', 'version', 'description', 'license', 'type', 'engines', 'bin', 'dependencies']) if (k in pkg) runtimePkg[k] = pkg[k];
    await writeFile(join(app, 'app/package.json'), `${JSON.stringify(runtimePkg, null, 2)}\n`);

    // ── layers
    step('layers (sorted tar, fixed mtimes, owner 0, gzip)');
    const layers = [
      await buildLayer('runtime (node, nft, shared libraries)', runtime, ['etc', ...(await readdir(runtime)).filter((e) => e !== 'etc').sort()], epoch, cache),
      await buildLayer('modules (npm ci --omit=dev)', modRoot, ['--no-recursion', 'app', '--recursion', 'app/node_modules'], epoch, cache),
      await buildLayer('app (dist, native addon, package.json)', app, ['app'], epoch, cache),
    ];

    // ── config, manifest, index, layout, archive
    step('config, manifest, index → OCI archive');
    const layout = join(work, 'layout');
    const blobDir = join(layout, 'blobs/sha256');
    await mkdir(blobDir, { recursive: true });
    const putJson = async (text: string): Promise<{ digest: string; size: number }> => {
      const hex = sha256(text);
      await writeFile(join(blobDir, hex), text);
      return { digest: `sha256:${hex}`, size: Buffer.byteLength(text) };
    };
    for (const l of layers) await linkOrCopy(l.blob, join(blobDir, l.digest.slice('sha256:'.length)));
    const config = await putJson(imageConfig(meta, layers));
    const manifest = await putJson(imageManifest(config, layers, meta));
    await writeFile(join(layout, 'index.json'), imageIndex(manifest, meta));
    await writeFile(join(layout, 'oci-layout'), OCI_LAYOUT);
    await mkdir(dirname(out), { recursive: true });
    const tmpOut = `${out}.${String(process.pid)}.tmp`;
    await tarInto(epoch, layout, ['blobs', 'index.json', 'oci-layout'], async (tar) => { await pipeline(tar, createWriteStream(tmpOut)); });
    await rename(tmpOut, out);

    const archiveBytes = (await stat(out)).size;
    const compressedBytes = config.size + manifest.size + layers.reduce((s, l) => s + l.size, 0);
    const uncompressedBytes = layers.reduce((s, l) => s + l.tarSize, 0);
    const archiveDigest = await fileDigest(out);
    step(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    const result = {
      reference: imageReference(meta),
      digest: manifest.digest,
      config: config.digest,
      archive: relative(process.cwd(), out) || out,
      archiveDigest,
      archiveBytes,
      compressedBytes,
      uncompressedBytes,
      layers: layers.map((l) => ({ what: l.what, digest: l.digest, size: l.size, diffId: l.diffId, tarSize: l.tarSize })),
      // hashes of what the dist and node_modules trees were made from: two builds with equal inputs must be equal
      inputs: { src: srcKey, modules: modKey },
      seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    };
    process.stdout.write(
      `image      ${result.reference}\n` +
      `digest     ${result.digest}\n` +
      `archive    ${result.archive} (${mib(archiveBytes)})\n` +
      `size       ${mib(compressedBytes)} compressed, ${mib(uncompressedBytes)} uncompressed\n` +
      `${JSON.stringify(result)}\n`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
    if (cache.temporary) await rm(cache.dir, { recursive: true, force: true });
    else await prune(cache).catch(() => undefined);
  }
}

/** Deletes the regular files under `dir` whose name matches `pattern`; what went. */
async function dropFiles(dir: string, pattern: RegExp): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  for (const f of await listFiles(dir, new Set())) {
    if (!pattern.test(f)) continue;
    const p = join(dir, f);
    bytes += (await stat(p)).size;
    await rm(p);
    count++;
  }
  return { count, bytes };
}

async function fileDigest(file: string): Promise<string> {
  const d = new Digester();
  await pipeline(createReadStream(file), d, discard());
  return `sha256:${d.hex()}`;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  try { await link(from, to); } catch { await copyFile(from, to); }
}

async function copyTree(from: string, to: string): Promise<void> {
  for (const f of await listFiles(from, new Set())) await linkOrCopy(join(from, f), join(to, f));
}

main().catch((err: unknown) => {
  process.stderr.write(`image: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
