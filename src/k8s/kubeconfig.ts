/**
 * Connection settings for the apiserver without loading @kubernetes/client-node's generated API
 * (which alone costs ~75 MiB of RSS): in-cluster service accounts and kubeconfigs with certificates or
 * tokens are read here. Kubeconfigs that need auth plugins (exec, auth-provider, basic auth) or merge
 * several files return undefined, and the client falls back to client-node's full implementation.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type https from 'node:https';
import { parse } from 'yaml';
import { BaregateError, ErrorCodes } from '../api/errors.ts';

/**
 * No usable connection settings: names the file, says why (missing, unreadable, not YAML, a referenced
 * certificate missing, ...) and what to pass instead, because a bare `ENOENT` leaves an operator guessing
 * which of the three places we look (flag, $KUBECONFIG, ~/.kube/config, the pod's service account) failed.
 */
export class KubeconfigError extends BaregateError {
  constructor(readonly file: string, readonly reason: string, options?: ErrorOptions) {
    super(ErrorCodes.Kubernetes, `cannot use kubeconfig ${file}: ${reason}. ` +
      'Pass --kubeconfig PATH (or set KUBECONFIG) to a readable kubeconfig, or run inside a pod with a service account token mounted', options);
    this.name = 'KubeconfigError';
  }
}

/** Why reading `file` failed, in words (ENOENT → "the file does not exist"). */
function readReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'the file does not exist';
  if (code === 'EACCES' || code === 'EPERM') return `permission denied for user ${os.userInfo().username}`;
  if (code === 'EISDIR') return 'it is a directory, not a file';
  return e instanceof Error ? e.message : String(e);
}

/** readFileSync that fails with a KubeconfigError naming the kubeconfig and what inside it was being read. */
function readOrExplain(file: string, kubeconfig: string, what?: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new KubeconfigError(kubeconfig, what === undefined ? readReason(e) : `${what} ${file}: ${readReason(e)}`, { cause: e });
  }
}

/** Where to connect and how to authenticate. */
export interface Connection {
  readonly server: string;
  /** TLS options (ca, cert, key, rejectUnauthorized) for https requests. */
  readonly tls: https.RequestOptions;
  /** Bearer token, re-read on each call for token files (service-account tokens rotate). */
  readonly token: (() => string) | undefined;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** In-cluster connection from the pod's service account. */
export function inClusterConnection(): Connection {
  const host = process.env.KUBERNETES_SERVICE_HOST ?? '';
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const where = `(in-cluster: KUBERNETES_SERVICE_HOST is set) ${SA_DIR}`;
  const ca = readOrExplain(join(SA_DIR, 'ca.crt'), where, 'service account CA');
  readOrExplain(join(SA_DIR, 'token'), where, 'service account token'); // fail now, not at the first request
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca },
    token: () => readFileSync(join(SA_DIR, 'token'), 'utf8').trim(),
  };
}

type Dict = Record<string, unknown>;

/**
 * Reads a kubeconfig file (default: $KUBECONFIG when it names one file, else ~/.kube/config).
 * Returns undefined when the file needs a feature only client-node implements; throws a
 * {@link KubeconfigError} when the file (or a certificate it names) cannot be read or parsed.
 */
export function kubeconfigConnection(path?: string): Connection | undefined {
  const envPath = process.env.KUBECONFIG;
  if (!path && envPath?.includes(':')) return undefined; // merged kubeconfigs
  const file = path ?? (envPath !== undefined && envPath !== '' ? envPath : join(os.homedir(), '.kube', 'config'));
  const source = path !== undefined ? file : envPath !== undefined && envPath !== '' ? `${file} (from $KUBECONFIG)` : `${file} (the default; no --kubeconfig given, KUBECONFIG unset, not in a pod)`;
  const text = readOrExplain(file, source).toString('utf8');
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (e) {
    throw new KubeconfigError(source, `not valid YAML (${e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e)})`, { cause: e });
  }
  if (parsed === null || typeof parsed !== 'object') throw new KubeconfigError(source, 'it is empty or not a kubeconfig mapping');
  const doc = parsed as Dict;
  const base = dirname(file);
  const find = (list: unknown, name: unknown, field: string): Dict | undefined =>
    (Array.isArray(list) ? (list as Dict[]).find((x) => x.name === name)?.[field] : undefined) as Dict | undefined;
  const ctx = find(doc.contexts, doc['current-context'], 'context');
  const cluster = find(doc.clusters, ctx?.cluster, 'cluster');
  const user = find(doc.users, ctx?.user, 'user') ?? {};
  if (!cluster || typeof cluster.server !== 'string') return undefined;
  if (['exec', 'auth-provider', 'username', 'password'].some((k) => k in user)) return undefined;
  const data = (inline: string, fileKey: string, from: Dict): Buffer | undefined => {
    const d = from[inline];
    if (typeof d === 'string') return Buffer.from(d, 'base64');
    const f = from[fileKey];
    if (typeof f === 'string') return readOrExplain(isAbsolute(f) ? f : join(base, f), source, fileKey);
    return undefined;
  };
  const tls: https.RequestOptions = {};
  const ca = data('certificate-authority-data', 'certificate-authority', cluster);
  if (ca) tls.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) tls.rejectUnauthorized = false;
  const cert = data('client-certificate-data', 'client-certificate', user);
  const key = data('client-key-data', 'client-key', user);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  let token: (() => string) | undefined;
  if (typeof user.token === 'string') { const t = user.token; token = () => t; }
  else if (typeof user.tokenFile === 'string') {
    const f = isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile);
    readOrExplain(f, source, 'tokenFile');
    token = () => readFileSync(f, 'utf8').trim();
  }
  return { server: cluster.server, tls, token };
}
