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
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca: readFileSync(join(SA_DIR, 'ca.crt')) },
    token: () => readFileSync(join(SA_DIR, 'token'), 'utf8').trim(),
  };
}

type Dict = Record<string, unknown>;

/**
 * Reads a kubeconfig file (default: $KUBECONFIG when it names one file, else ~/.kube/config).
 * Returns undefined when the file needs a feature only client-node implements.
 */
export function kubeconfigConnection(path?: string): Connection | undefined {
  const envPath = process.env.KUBECONFIG;
  if (!path && envPath?.includes(':')) return undefined; // merged kubeconfigs
  const file = path ?? envPath ?? join(os.homedir(), '.kube', 'config');
  const doc = parse(readFileSync(file, 'utf8')) as Dict;
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
    if (typeof f === 'string') return readFileSync(isAbsolute(f) ? f : join(base, f));
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
    token = () => readFileSync(f, 'utf8').trim();
  }
  return { server: cluster.server, tls, token };
}
