/**
 * A small admin REST client for the lab (tools/lab/cluster.ts): the lab writes many Pod statuses and reads
 * objects while waiting, and one kubectl process per request costs a third of a core on this kind of machine.
 * It speaks to the apiserver through the root-namespace relay the admin kubeconfig names, with the admin
 * client certificate, over one keep-alive agent; every request has a deadline and never throws on an HTTP
 * status (the caller reads it).
 */
import { readFileSync } from 'node:fs';
import * as https from 'node:https';

/** An answer: HTTP status and the parsed JSON body (undefined when the body is not JSON). */
export interface RestAnswer { status: number; body: unknown; text: string }

/** The client: `request` and `close` (ends the keep-alive sockets). */
export interface LabRest {
  request(method: string, path: string, body?: unknown, contentType?: string, timeoutMs?: number): Promise<RestAnswer>;
  close(): void;
}

interface KubeconfigFile {
  clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
  users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
}

/** A client for the cluster of an admin kubeconfig as the harness writes it (JSON, inline certificate data). */
export function labRest(kubeconfigPath: string): LabRest {
  const kc = JSON.parse(readFileSync(kubeconfigPath, 'utf8')) as KubeconfigFile;
  const cluster = kc.clusters[0]?.cluster;
  const user = kc.users[0]?.user;
  if (!cluster || !user) throw new Error(`kubeconfig ${kubeconfigPath} has no cluster or user`);
  const url = new URL(cluster.server);
  const b64 = (s: string): Buffer => Buffer.from(s, 'base64');
  const agent = new https.Agent({
    keepAlive: true, maxSockets: 8,
    ca: b64(cluster['certificate-authority-data']), cert: b64(user['client-certificate-data']), key: b64(user['client-key-data']),
  });
  const once = (method: string, path: string, body: unknown, contentType: string, timeoutMs: number): Promise<RestAnswer> => new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request({
        host: url.hostname, port: url.port, method, path, agent, timeout: timeoutMs,
        headers: { accept: 'application/json', ...(data && { 'content-type': contentType, 'content-length': data.length }) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('error', reject);
        res.on('end', () => {
          let parsed: unknown;
          try { parsed = JSON.parse(text) as unknown; } catch { parsed = undefined; }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      });
      req.on('timeout', () => { req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)); });
      req.on('error', reject);
      req.end(data);
    });
  return {
    // a kept-alive socket the relay or a restarting apiserver has closed fails the next request with a reset
    // ("socket hang up"): connection-level failures are tried again (3 times), HTTP answers never are
    request: async (method, path, body, contentType = 'application/json', timeoutMs = 15_000) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once(method, path, body, contentType, timeoutMs);
        } catch (e) {
          if (attempt >= 3) throw e;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
    },
    close: () => { agent.destroy(); },
  };
}
