/**
 * Ingress gateways in the lab (issue 12, lab acceptance): an ingress-nginx-shaped and an Istio-shaped LoadBalancer
 * Service, created without any baregate annotation, get the fixed IPv4 and IPv6 addresses of their
 * GatewayIntegrations and no NodePorts; the LAN client reaches the demo app through a real nginx at each address;
 * and no node's kube-proxy has a NodePort open for them, while the demo Service's NodePort is there on every node
 * (the control that keeps the absence check honest). A second ingress-nginx Service that existed before its
 * integration has its NodePorts removed by the controller. See tools/lab/gateway.ts for the gateways.
 *
 * Root only (the lab): skips loudly otherwise. BAREGATE_LAB_GATEWAY_MODE=annotations runs the data-plane part with
 * the Services carrying the annotation themselves (the integration-only tests then skip).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { answer, e2eSkip, startE2eLab } from './traffic.ts';
import { until } from '../harness/wait.ts';
import { CONTROLLER_SERVICE_ACCOUNT, Kinds, SYSTEM_NAMESPACE } from '../../src/api/keys.ts';
import { readAudit } from '../harness/cluster.ts';
import type { GatewayIntegration } from '../../src/api/gatewayintegration.ts';
import type { LabCluster } from '../../tools/lab/api.ts';
import {
  DEFAULT_GATEWAY_MODE, deployGateways, GatewayModes, gatewayService, getWithHeaders, nodePortRules, nodeRuleset, parseNodePortRules, type LabGateway, type NodePortRule,
} from '../../tools/lab/gateway.ts';

const NODES = ['n1', 'n2', 'n3'];
const httpURL = (ip: string, port = 80): string => (ip.includes(':') ? `http://[${ip}]:${port}/` : `http://${ip}:${port}/`);
const integrationOnly = DEFAULT_GATEWAY_MODE === GatewayModes.integration ? false : 'mode annotations: no GatewayIntegration';

describe('lab gateways', { skip: e2eSkip, timeout: 900_000 }, () => {
  let lab: LabCluster;
  let gateways: LabGateway[] = [];
  let demoNodePort = 0;
  const gw = (service: string): LabGateway => {
    const g = gateways.find((x) => x.spec.service === service);
    assert.ok(g, `gateway ${service} deployed`);
    return g;
  };

  before(async () => {
    lab = await startE2eLab('gw', { bird: false });
    await lab.applyBaseConfig();
    await lab.deployApp('demo', NODES);
    await lab.lbService('demo');
    await lab.waitServiceIPs('demo', 2, 60_000);
    demoNodePort = (await lab.nodePorts('demo'))[0] ?? 0;
    gateways = await deployGateways(lab, { upstream: 'demo', nodes: NODES, log: (m) => { process.stderr.write(`[lab gw] ${m}\n`); } });
  });
  after(async () => { await lab.destroy(); });

  it('every gateway Service has exactly its integration\'s fixed IPv4 and IPv6 address', async () => {
    assert.ok(gateways.length >= 2);
    for (const g of gateways) assert.deepEqual([...await lab.serviceIPs(g.spec.service)].sort(), [...g.spec.ips].sort(), g.spec.service);
  });

  it('the lab creates the gateway Services with no baregate annotation and no allocateLoadBalancerNodePorts (integration mode): what they show is the integrations\' doing', { skip: integrationOnly }, async () => {
    for (const g of gateways) {
      // what the lab sends (mutations at admission are attributed to the request's field manager, so managedFields cannot tell)
      const sent = gatewayService(g.spec, DEFAULT_GATEWAY_MODE) as { metadata: { annotations?: object }; spec: Record<string, unknown> };
      assert.equal(sent.metadata.annotations, undefined, `${g.spec.service}: sent without annotations`);
      assert.equal(sent.spec.allocateLoadBalancerNodePorts, undefined, `${g.spec.service}: sent without allocateLoadBalancerNodePorts`);
      const r = await lab.kubectl(['get', 'svc', g.spec.service, '-o', 'json']);
      const svc = JSON.parse(r.stdout) as { metadata: { annotations?: Record<string, string> }; spec: { allocateLoadBalancerNodePorts?: boolean } };
      assert.equal(svc.spec.allocateLoadBalancerNodePorts, false, `${g.spec.service}: allocateLoadBalancerNodePorts set by baregate`);
    }
  });

  it('the LAN client GETs http://<fixed IP>/ of each gateway (IPv4 and IPv6) and the demo app answers through that gateway\'s nginx', async () => {
    for (const g of gateways) {
      for (const ip of g.spec.ips) {
        const ports = g.spec.ports.map((p) => p.port);
        for (const port of ports) {
          const r = await until(() => `an answer from ${httpURL(ip, port)}\n${lab.logs()}`, async () => {
            const a = await getWithHeaders(lab, 'client', httpURL(ip, port), 1500);
            return a.status === 200 ? a : undefined;
          }, 30_000, 250);
          assert.equal(r.headers['x-gateway'], g.spec.app, `${g.spec.service} ${ip}:${port}: nginx of ${g.spec.app} answered (X-Gateway)`);
          assert.ok(g.pods.some((p) => p.name === r.headers['x-gateway-pod']), `X-Gateway-Pod ${String(r.headers['x-gateway-pod'])} is one of ${g.spec.app}'s pods`);
          const demo = answer(r.body);
          assert.ok(demo?.pod.startsWith('demo-'), `a demo pod answered behind nginx: ${JSON.stringify(r.body)}`);
          // nginx proxied to the demo Service's ClusterIP of the client's family
          assert.ok(g.upstream.includes(r.headers['x-upstream'] ?? ''), `X-Upstream ${String(r.headers['x-upstream'])} is a ClusterIP of demo (${g.upstream.join(', ')})`);
          assert.equal((r.headers['x-upstream'] ?? '').startsWith('['), ip.includes(':'), `the upstream family follows the client's (${ip} → ${String(r.headers['x-upstream'])})`);
        }
      }
    }
  });

  it('the answers come from more than one gateway pod and more than one demo pod (kube-proxy spreads both hops)', async () => {
    const g = gw('istio-ingressgateway');
    const seen = { gw: new Set<string>(), demo: new Set<string>() };
    await until(() => `answers from ≥2 gateway pods and ≥2 demo pods (seen ${[...seen.gw, ...seen.demo].join(', ')})`, async () => {
      const a = await getWithHeaders(lab, 'client', httpURL(g.spec.ips[0]), 1500);
      if (a.status === 200) { seen.gw.add(a.headers['x-gateway-pod'] ?? ''); seen.demo.add(answer(a.body)?.pod ?? ''); }
      return seen.gw.size >= 2 && seen.demo.size >= 2 ? true : undefined;
    }, 30_000, 50);
  });

  it('no gateway Service has a spec.ports[].nodePort, and allocateLoadBalancerNodePorts is false', async () => {
    for (const g of gateways) {
      await until(`${g.spec.service} without NodePorts`, async () => ((await lab.nodePorts(g.spec.service)).length === 0 ? true : undefined), 60_000, 250)
        .catch(async (e: unknown) => { assert.fail(`${g.spec.service} still has NodePorts ${(await lab.nodePorts(g.spec.service)).join(',')}: ${String(e)}`); });
      const r = await lab.kubectl(['get', 'svc', g.spec.service, '-o', 'jsonpath={.spec.allocateLoadBalancerNodePorts}']);
      assert.equal(r.stdout, 'false', g.spec.service);
    }
  });

  it('the demo Service (the control) has a NodePort, and every node\'s kube-proxy has it in its NodePort map', async () => {
    assert.ok(demoNodePort >= 30000, `demo has a NodePort: ${demoNodePort}`);
    for (const n of lab.nodes) {
      const rules = await until(() => `the demo NodePort in ${n.name}'s kube-proxy map: ${nodeRuleset(lab, n.name).slice(0, 3000)}`,
        () => { const r = nodePortRules(lab, n.name); return r.some((x) => x.service === 'default/demo') ? r : undefined; }, 30_000, 250);
      for (const family of ['ip', 'ip6'] as const) {
        assert.ok(rules.some((x) => x.table === `${family} kube-proxy` && x.map === 'service-nodeports' && x.service === 'default/demo' && x.port === demoNodePort && x.protocol === 'tcp'), `${n.name} ${family}: tcp . ${demoNodePort} → default/demo in ${JSON.stringify(rules)}`);
      }
    }
  });

  it('no node\'s nftables ruleset has a NodePort entry for any gateway Service (every protocol.port-keyed map of every table)', async () => {
    const isGateway = (svc: string): boolean => gateways.some((g) => svc === `default/${g.spec.service}`);
    // ports a late Service was born with: after the clean-up, no map may hold them at all
    const formerPorts = new Set(gateways.flatMap((g) => g.nodePortsBefore));
    for (const n of lab.nodes) {
      // kube-proxy applies changes asynchronously: a late Service's NodePorts go once it has synced after the clean-up
      const rules = await until(() => `no gateway NodePort in ${n.name}'s ruleset: ${JSON.stringify(nodePortRules(lab, n.name))}`, () => {
        const r = nodePortRules(lab, n.name);
        return r.every((x) => !isGateway(x.service) && !formerPorts.has(x.port)) ? r : undefined;
      }, 30_000, 250);
      assert.deepEqual(rules.filter((r) => isGateway(r.service) || formerPorts.has(r.port)), [], `${n.name}: NodePort entries for gateways`);
      // not vacuous: the parser sees the control's entry in this very ruleset, and the gateways' LB IP paths exist
      assert.ok(rules.some((r) => r.service === 'default/demo' && r.port === demoNodePort), `${n.name}: the demo NodePort is parsed from the ruleset`);
      const ruleset = nodeRuleset(lab, n.name);
      for (const g of gateways) {
        for (const ip of g.spec.ips) assert.ok(ruleset.includes(`${ip} . tcp . 80 : goto external-`), `${n.name}: kube-proxy serves ${g.spec.service} at ${ip}:80 (service-ips)`);
      }
    }
  });

  it('a gateway Service created before its integration had NodePorts; the controller removed them (API and kube-proxy)', { skip: integrationOnly }, async () => {
    const g = gateways.find((x) => x.spec.late);
    assert.ok(g, 'a late gateway deployed');
    assert.deepEqual(await lab.nodePorts(g.spec.service), []);
    assert.ok(g.nodePortsBefore.length === g.spec.ports.length && g.nodePortsBefore.every((p) => p >= 30000), `it was born with NodePorts: ${g.nodePortsBefore.join(',')}`);
    for (const n of lab.nodes) {
      const left: NodePortRule[] = nodePortRules(lab, n.name).filter((r) => r.service === `default/${g.spec.service}` || g.nodePortsBefore.includes(r.port));
      assert.deepEqual(left, [], `${n.name}: NodePort entries of ${g.spec.service} left`);
    }
    const r = await getWithHeaders(lab, 'client', httpURL(g.spec.ips[1]), 2000);
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.headers['x-gateway'], g.spec.app);
  });

  it('the Services created after their integration were born without NodePorts (the webhook): the controller\'s NodePort clean-up (an update) ran on the late Service only', { skip: integrationOnly }, () => {
    const controller = `system:serviceaccount:${SYSTEM_NAMESPACE}:${CONTROLLER_SERVICE_ACCOUNT}`;
    const updates = readAudit(join(lab.dir, 'cluster'))
      .filter((e) => e.resource === 'services' && e.subresource === '' && e.verb === 'update' && e.user === controller && e.code < 300)
      .map((e) => e.name);
    for (const g of gateways) {
      // an apply of allocateLoadBalancerNodePorts false keeps NodePorts already allocated: none now and no clean-up means none ever
      if (g.spec.late) assert.ok(updates.includes(g.spec.service), `${g.spec.service}: cleaned up by an update (${updates.join(', ')})`);
      else assert.ok(!updates.includes(g.spec.service), `${g.spec.service}: needed no clean-up (${updates.join(', ')})`);
    }
  });

  it('each GatewayIntegration lists its Service with its addresses and no NodePorts in its status', { skip: integrationOnly }, async () => {
    for (const g of gateways) {
      const st = await until(() => `${g.spec.integration} status listing ${g.spec.service} with ${g.spec.ips.join(',')} and 0 NodePorts`, async () => {
        const r = await lab.kubectl(['get', Kinds.GatewayIntegration.plural, g.spec.integration, '-o', 'json']);
        const s = (JSON.parse(r.stdout) as GatewayIntegration).status?.services?.find((x) => x.name === g.spec.service && x.namespace === 'default');
        return s && [...s.ingress].sort().join(',') === [...g.spec.ips].sort().join(',') && s.nodePorts === 0 ? s : undefined;
      }, 60_000, 500);
      assert.equal(st.name, g.spec.service);
    }
  });

  it('a controller restart changes nothing: same IPs, still no NodePorts, no write to any gateway Service, traffic through nginx', { skip: integrationOnly }, async () => {
    const before = new Map(await Promise.all(gateways.map(async (g) => [g.spec.service, [...await lab.serviceIPs(g.spec.service)].sort()] as const)));
    const t0 = Date.now();
    await lab.restartController();
    // the restarted leader has made its passes once its integrations' status is current again; give it a moment more
    await until('every integration observed after the restart', async () => {
      const r = await lab.kubectl(['get', Kinds.GatewayIntegration.plural, '-o', 'json']);
      const items = (JSON.parse(r.stdout) as { items: GatewayIntegration[] }).items;
      return items.length >= gateways.length && items.every((i) => i.status?.observedGeneration === i.metadata.generation) ? true : undefined;
    }, 60_000, 250);
    await new Promise((r) => setTimeout(r, 3000));
    const names = new Set(gateways.map((g) => g.spec.service));
    const all = readAudit(join(lab.dir, 'cluster')).filter((e) => e.resource === 'services' && names.has(e.name) && ['create', 'update', 'patch', 'delete'].includes(e.verb));
    // not vacuous: the audit log shows the writes that made them (lab apply, baregate) before the restart
    assert.ok(all.filter((e) => e.receivedAt < t0).length >= gateways.length * 2, `writes before the restart: ${all.length}`);
    const writes = all.filter((e) => e.receivedAt >= t0)
      .map((e) => `${e.verb} ${e.name}${e.subresource === '' ? '' : `/${e.subresource}`} by ${e.user}`);
    assert.deepEqual(writes, [], 'writes to gateway Services after the restart');
    for (const g of gateways) {
      assert.deepEqual([...await lab.serviceIPs(g.spec.service)].sort(), before.get(g.spec.service), g.spec.service);
      assert.deepEqual(await lab.nodePorts(g.spec.service), [], g.spec.service);
      const r = await getWithHeaders(lab, 'client', httpURL(g.spec.ips[0]), 2000);
      assert.equal(r.headers['x-gateway'], g.spec.app, `${g.spec.service}: ${JSON.stringify(r)}`);
    }
  });
});

/** A slice of a real lab node's `nft list ruleset` (kube-proxy nftables mode, v1.34). */
const RULESET = `table ip kube-proxy {
	comment "rules for kube-proxy"
	set nodeport-ips {
		type ipv4_addr
		elements = { 192.0.2.11 }
	}

	map no-endpoint-services {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 198.51.100.231 . tcp . 7472 comment "baregate-system/baregate-controller-metrics:metrics" : goto reject-chain }
	}

	map no-endpoint-nodeports {
		type inet_proto . inet_service : verdict
		elements = { udp . 30999 comment "default/idle:dns" : goto reject-chain }
	}

	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 192.0.2.200 . tcp . 80 : goto external-C642UMGT-default/demo/tcp/http,
			     192.0.2.220 . tcp . 443 : goto external-NM7WDKZH-default/ingress-nginx-controller/tcp/https }
	}

	map service-nodeports {
		type inet_proto . inet_service : verdict
		comment "NodePort traffic"
		elements = { tcp . 31867 : goto external-C642UMGT-default/demo/tcp/http,
			     tcp . 30443 : goto external-NM7WDKZH-default/ingress-nginx-controller/tcp/https }
	}

	chain services {
		ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
	}
}
table ip6 kube-proxy {
	map service-nodeports {
		type inet_proto . inet_service : verdict
		elements = { tcp . 31867 : goto external-C642UMGT-default/demo/tcp/http }
	}
}
`;

describe('parseNodePortRules (the NodePort entries of an nftables ruleset)', () => {
  it('reads the protocol.port-keyed maps of every table and names each entry\'s Service; address-keyed maps are not NodePorts', () => {
    assert.deepEqual(parseNodePortRules(RULESET), [
      { table: 'ip kube-proxy', map: 'no-endpoint-nodeports', protocol: 'udp', port: 30999, service: 'default/idle', verdict: 'goto reject-chain' },
      { table: 'ip kube-proxy', map: 'service-nodeports', protocol: 'tcp', port: 31867, service: 'default/demo', verdict: 'goto external-C642UMGT-default/demo/tcp/http' },
      { table: 'ip kube-proxy', map: 'service-nodeports', protocol: 'tcp', port: 30443, service: 'default/ingress-nginx-controller', verdict: 'goto external-NM7WDKZH-default/ingress-nginx-controller/tcp/https' },
      { table: 'ip6 kube-proxy', map: 'service-nodeports', protocol: 'tcp', port: 31867, service: 'default/demo', verdict: 'goto external-C642UMGT-default/demo/tcp/http' },
    ]);
  });

  it('finds nothing in a ruleset without NodePort maps, or with empty ones', () => {
    assert.deepEqual(parseNodePortRules(''), []);
    assert.deepEqual(parseNodePortRules('table ip kube-proxy {\n\tmap service-nodeports {\n\t\ttype inet_proto . inet_service : verdict\n\t}\n}\n'), []);
  });
});
