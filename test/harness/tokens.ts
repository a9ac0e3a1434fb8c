/**
 * Kubeconfigs that authenticate as a ServiceAccount with a real bound token from the TokenRequest API
 * (`POST …/serviceaccounts/<sa>/token`, what the kubelet does for a Pod), so tests and the lab run the
 * controller and the speakers with exactly the identities and RBAC of the install bundle instead of an
 * all-powerful client certificate.
 *
 * Synchronous on purpose (like clientKubeconfigSync in cluster.ts): harness code that starts a component
 * synchronously can give it its identity. The token comes from `kubectl create token`, which calls the
 * TokenRequest API as admin; the ServiceAccount must exist (the bundle creates it).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** What the helper needs of a cluster: its data dir (admin kubeconfig, where files go) and kubectl's directory. */
export interface TokenClusterInputs {
  /** The cluster's data dir (TestCluster.dataDir): holds admin.kubeconfig; the kubeconfig is written here. */
  dataDir: string;
  /** Directory holding kubectl (TestCluster.binDir, or `await k8sBinDir()`). */
  binDir: string;
}

/** Lifetime of the tokens asked for: longer than any test or lab session (the apiserver sets no maximum). */
const DEFAULT_TOKEN_SECONDS = 48 * 3600;

interface AdminConfig { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] }

/**
 * A token for ServiceAccount `namespace/sa` from the TokenRequest API, valid `durationSeconds`. Throws with
 * kubectl's message when the request fails (e.g. the ServiceAccount does not exist).
 */
export function serviceAccountToken(c: TokenClusterInputs, namespace: string, sa: string, durationSeconds = DEFAULT_TOKEN_SECONDS): string {
  const out = execFileSync(join(c.binDir, 'kubectl'), ['--kubeconfig', join(c.dataDir, 'admin.kubeconfig'), 'create', 'token', sa,
    '-n', namespace, `--duration=${durationSeconds}s`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  return checkedToken(out, namespace, sa);
}

/** kubectl's output as a token, or an error saying what came instead. */
function checkedToken(out: string, namespace: string, sa: string): string {
  const token = out.trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) throw new Error(`kubectl create token ${namespace}/${sa}: not a JWT: ${token.slice(0, 80)}`);
  return token;
}

/**
 * Writes a kubeconfig that authenticates as `system:serviceaccount:<namespace>:<sa>` with a fresh token and
 * returns its path. The server and CA come from the admin kubeconfig unless `server` names another (the
 * lab's components reach the apiserver at its namespace address); the context's namespace is `namespace`.
 */
export function serviceAccountKubeconfig(c: TokenClusterInputs, namespace: string, sa: string, server?: string, durationSeconds = DEFAULT_TOKEN_SECONDS): string {
  return tokenKubeconfig(c, namespace, sa, serviceAccountToken(c, namespace, sa, durationSeconds), server);
}

/**
 * The asynchronous variant for callers whose own event loop carries the API traffic (the lab's root-side relay
 * runs in the lab's process: a synchronous kubectl would wait on it forever).
 */
export async function serviceAccountKubeconfigAsync(c: TokenClusterInputs, namespace: string, sa: string, server?: string, durationSeconds = DEFAULT_TOKEN_SECONDS): Promise<string> {
  const { stdout } = await execFileAsync(join(c.binDir, 'kubectl'), ['--kubeconfig', join(c.dataDir, 'admin.kubeconfig'), 'create', 'token', sa,
    '-n', namespace, `--duration=${durationSeconds}s`], { encoding: 'utf8', timeout: 60_000 });
  return tokenKubeconfig(c, namespace, sa, checkedToken(stdout, namespace, sa), server);
}

/** Writes a kubeconfig with `token` as `system:serviceaccount:<namespace>:<sa>`; returns its path. */
function tokenKubeconfig(c: TokenClusterInputs, namespace: string, sa: string, token: string, server?: string): string {
  const admin = JSON.parse(readFileSync(join(c.dataDir, 'admin.kubeconfig'), 'utf8')) as AdminConfig;
  const cluster = admin.clusters[0]?.cluster;
  if (!cluster) throw new Error(`${join(c.dataDir, 'admin.kubeconfig')}: no cluster`);
  const user = `sa-${namespace}-${sa}`.replace(/[^a-zA-Z0-9-]/g, '-');
  const path = join(c.dataDir, `${user}-${randomBytes(4).toString('hex')}.kubeconfig`);
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'baregate-test',
    clusters: [{ name: 'baregate-test', cluster: { server: server ?? cluster.server, 'certificate-authority-data': cluster['certificate-authority-data'] } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'baregate-test', context: { cluster: 'baregate-test', user, namespace } }],
  }, null, 2), { mode: 0o600 });
  return path;
}

/** The apiserver user name of a ServiceAccount (what the audit log and RBAC see). */
export const serviceAccountUser = (namespace: string, sa: string): string => `system:serviceaccount:${namespace}:${sa}`;
