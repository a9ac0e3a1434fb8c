/**
 * Lab smoke test (issue 10): the whole lab comes up (control plane in its namespace, kube-controller-manager,
 * kube-proxy per node, speakers, pods), a LoadBalancer Service gets an IP from the L2 pool, the LAN client
 * reaches it through kube-proxy to a pod, and exactly one node answers ARP for it. Root only: skips loudly
 * otherwise, as the netlab tests do.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { netlabSkip } from '../netlab/netns.ts';
import { until } from '../harness/wait.ts';
import { startLab } from '../../tools/lab/cluster.ts';
import type { LabCluster } from '../../tools/lab/api.ts';

const ANSWER = /^pod=demo-n[123]-\d+ node=n[123]$/;

describe('lab smoke', { skip: netlabSkip, timeout: 600_000 }, () => {
  let lab: LabCluster;
  let ipv4 = '';

  before(async () => {
    lab = await startLab({ nodes: 3, tag: 'smk', log: (m) => { process.stderr.write(`${m}\n`); } });
    await lab.applyBaseConfig();
    await lab.deployApp('demo', ['n1', 'n2', 'n3']);
    await lab.lbService('demo');
    const ips = await lab.waitServiceIPs('demo', 2);
    ipv4 = ips.find((ip) => !ip.includes(':')) ?? '';
  });
  after(async () => { await lab.destroy(); });

  it('gives the Service an IPv4 from the L2 pool', () => {
    assert.match(ipv4, /^192\.0\.2\.2[0-2]\d$/);
  });

  it('the LAN client fetches http://<ipv4>/ and a pod answers with its name and node', async () => {
    const body = await until(() => `an HTTP answer from ${ipv4}\n${lab.logs()}`, async () => {
      const r = await lab.httpGet('client', `http://${ipv4}/`, 1500);
      return r.status === 200 && r.body !== undefined && ANSWER.test(r.body) ? r.body : undefined;
    }, 30_000, 250);
    assert.match(body, ANSWER);
  });

  it('exactly one node answers ARP for the IP', async () => {
    const owner = await lab.waitOwner(ipv4);
    const macs = await lab.whoAnswers(ipv4, { count: 4 });
    assert.deepEqual(macs, [lab.node(owner).mac]);
  });
});
