/**
 * The pure half of the image build (tools/image/build.ts does the I/O): the OCI image config, manifest and index
 * JSON, the image reference, and reading `ldd` output. Kept apart so the test can check the documents without
 * building anything, and so every byte that goes into a digest comes from one place (same inputs, same digest).
 * Spec: OCI image-spec v1.1 (image-layout, manifest, config, annotations).
 */

/** Media types of the documents and blobs we write (an OCI image, not a Docker v2 one). */
export const MediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Where things live inside the image; the bundle's container args are appended to {@link ENTRYPOINT}. */
export const ImagePaths = {
  node: '/usr/local/bin/node',
  nft: '/usr/sbin/nft',
  app: '/app',
  main: '/app/dist/cli/main.js',
} as const;

/** `baregate …` inside the image: the bundle passes `controller …` / `speaker …` as the container args. */
export const ENTRYPOINT: readonly string[] = [ImagePaths.node, ImagePaths.main];

/** Default user: the controller runs as this non-root uid/gid; the speaker's pod spec overrides it with 0. */
export const IMAGE_USER = '65532:65532';

/** PATH inside the image: the speaker spawns `nft` by name, so PATH must not depend on the runtime's default. */
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A content-addressed blob as the manifest and index refer to it. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

/** One built layer: its compressed blob and the digest of the uncompressed tar (the config's diff_id). */
export interface Layer {
  /** What it holds, for the config's history (`created_by`). */
  what: string;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** Size of the uncompressed tar in bytes. */
  tarSize: number;
  /** sha256 and size of the gzip blob. */
  digest: string;
  size: number;
}

/** What the image says about itself, from package.json and src/api/keys.ts (never retyped). */
export interface ImageMeta {
  repository: string;
  version: string;
  title: string;
  description: string;
  licenses: string;
  source: string;
  /** OCI architecture name (amd64, arm64), see {@link ociArchitecture}. */
  architecture: string;
  /** Seconds since the epoch for every timestamp (SOURCE_DATE_EPOCH, default 0): timestamps must not vary. */
  epoch: number;
}

/** `repository:version`, the one reference the bundle and the chart use too. */
export function imageReference(meta: Pick<ImageMeta, 'repository' | 'version'>): string {
  return `${meta.repository}:${meta.version}`;
}

/**
 * The source repository label: package.json's `repository` when it has one, else the GitHub repository that a
 * `ghcr.io/<owner>/<name>` image reference belongs to (that is how ghcr.io links packages to repositories).
 */
export function sourceUrl(repository: string, pkgRepository: unknown): string {
  if (typeof pkgRepository === 'string') return pkgRepository;
  if (typeof pkgRepository === 'object' && pkgRepository !== null && 'url' in pkgRepository && typeof pkgRepository.url === 'string') {
    return pkgRepository.url.replace(/^git\+/, '').replace(/\.git$/, '');
  }
  const m = /^ghcr\.io\/([^/]+\/[^/:]+)$/.exec(repository);
  return m ? `https://github.com/${m[1] ?? ''}` : '';
}

/** Node's `process.arch` as the OCI platform architecture (the image runs this machine's node binary). */
export function ociArchitecture(nodeArch: string): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const a = map[nodeArch];
  if (a === undefined) throw new Error(`no OCI architecture name for node's arch ${nodeArch}`);
  return a;
}

/** The lowest Node.js major that package.json's `engines.node` (`>=20.0.0`) allows; undefined if it says none. */
export function minNodeMajor(engines: unknown): number | undefined {
  const m = typeof engines === 'string' ? /^\s*>=?\s*v?(\d+)/.exec(engines) : null;
  return m ? Number(m[1]) : undefined;
}

function isoTime(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** The OCI labels (org.opencontainers.image.*) of the image config. */
export function imageLabels(meta: ImageMeta): Record<string, string> {
  return {
    'org.opencontainers.image.title': meta.title,
    'org.opencontainers.image.description': meta.description,
    'org.opencontainers.image.version': meta.version,
    'org.opencontainers.image.source': meta.source,
    'org.opencontainers.image.licenses': meta.licenses,
  };
}

/** The image config document (what `podman inspect` shows as Config), serialised with sorted-stable keys. */
export function imageConfig(meta: ImageMeta, layers: readonly Layer[]): string {
  const created = isoTime(meta.epoch);
  return JSON.stringify({
    created,
    architecture: meta.architecture,
    os: 'linux',
    config: {
      User: IMAGE_USER,
      Env: [`PATH=${IMAGE_PATH}`, 'NODE_ENV=production'],
      Entrypoint: ENTRYPOINT,
      WorkingDir: ImagePaths.app,
      Labels: imageLabels(meta),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created, created_by: `baregate tools/image.sh: ${l.what}` })),
  });
}

/** The image manifest: the config blob and the gzip layers, in order (lowest first). */
export function imageManifest(config: { digest: string; size: number }, layers: readonly Layer[], meta: ImageMeta): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.manifest,
    config: { mediaType: MediaTypes.config, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: MediaTypes.layerGzip, digest: l.digest, size: l.size })),
    annotations: { 'org.opencontainers.image.created': isoTime(meta.epoch), ...imageLabels(meta) },
  });
}

/**
 * The layout's index.json. The name is given twice: `org.opencontainers.image.ref.name` (what podman/skopeo read
 * when loading an OCI archive; the full reference, so `podman load` tags it `ghcr.io/…:version`) and
 * `io.containerd.image.name` (what `ctr images import` reads), so the archive loads under its reference in both.
 */
export function imageIndex(manifest: { digest: string; size: number }, meta: ImageMeta): string {
  const ref = imageReference(meta);
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.index,
    manifests: [{
      mediaType: MediaTypes.manifest,
      digest: manifest.digest,
      size: manifest.size,
      platform: { architecture: meta.architecture, os: 'linux' },
      annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref },
    }],
  });
}

/** The `oci-layout` file of an image layout. */
export const OCI_LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });

/**
 * The files a dynamically linked program needs, from `ldd` output: every `name => /path` and the loader line
 * (`/lib64/ld-linux-x86-64.so.2 (0x…)`); the vDSO (no path) is skipped. A `not found` is an error: the image
 * would not start, so the build must stop.
 */
export function parseLdd(text: string, program: string): string[] {
  const files: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || /^statically linked$/.test(line)) continue;
    if (/=>\s*not found/.test(line)) throw new Error(`ldd ${program}: ${line}`);
    const arrow = /^\S+\s+=>\s+(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (arrow) { files.push(arrow[1] ?? ''); continue; }
    const loader = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (loader) { files.push(loader[1] ?? ''); continue; }
    if (/^\S+\s+\(0x[0-9a-f]+\)$/.test(line)) continue; // linux-vdso.so.1: in the kernel, no file
    throw new Error(`ldd ${program}: cannot read the line ${JSON.stringify(line)}`);
  }
  return files;
}
