/**
 * Smoke check for the test cluster harness (not a test): `npx tsx test/harness/cluster.smoke.ts`.
 * Starts a cluster, checks admin vs unprivileged RBAC and dual-stack Services, restarts the apiserver, prints timings.
 */
import { startCluster } from './cluster.ts';

const timings: Record<string, number> = {};
const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
  const t = Date.now();
  try { return await f(); } finally { timings[name] = Date.now() - t; }
};
const check = (what: string, ok: boolean, detail: string) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${detail.trim()}`);
  if (!ok) process.exitCode = 1;
};

const cluster = await timed('start', () => startCluster({ log: (m) => { console.log(m); } }));
try {
  const version = await cluster.kubectl(['get', '--raw', '/version']);
  check('kubectl get --raw /version', version.code === 0, (JSON.parse(version.stdout) as { gitVersion: string }).gitVersion);

  const admin = await cluster.kubectl(['auth', 'can-i', 'create', 'services']);
  check('admin can create services', admin.stdout.trim() === 'yes', admin.stdout);
  const userConfig = await timed('userKubeconfig', () => cluster.userKubeconfig('alice', ['baregate:testers']));
  const user = await cluster.kubectl(['--kubeconfig', userConfig, 'auth', 'can-i', 'create', 'services']);
  check('alice cannot create services', user.stdout.trim() === 'no' && user.code !== 0, user.stdout);
  const whoami = await cluster.kubectl(['--kubeconfig', userConfig, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.groups}']);
  check('alice groups', whoami.stdout.includes('baregate:testers'), whoami.stdout);

  const svc = await cluster.kubectl(['apply', '-f', '-', '-o', 'jsonpath={.spec.clusterIPs}'], JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'dual', namespace: 'default' },
    spec: { type: 'LoadBalancer', ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], ports: [{ port: 80 }] },
  }));
  check('dual-stack LoadBalancer Service', svc.code === 0 && svc.stdout.includes(':'), svc.stdout + svc.stderr);

  await timed('restartApiserver', () => cluster.restartApiserver({ downMs: 1000 }));
  const after = await cluster.kubectl(['get', 'svc', 'dual', '-o', 'name']);
  check('service survives apiserver restart', after.code === 0, after.stdout + after.stderr);
} finally {
  await timed('stop', () => cluster.stop());
}
console.log('timings (ms):', JSON.stringify(timings));
