/**
 * The lab's contract (issue 10): what `npm run lab`, the `baregate lab` command, the end-to-end suites
 * (test/e2e) and the lab benchmarks use. The lab is the netlab {@link Topology} grown into a whole cluster:
 * the control plane (etcd, kube-apiserver, kube-controller-manager, the baregate controller) in its own
 * namespace behind a management link, a real kube-proxy (nftables mode) and a real `baregate speaker` in every
 * node namespace, pods as small namespaces hanging off their node. Everything the Topology offers (speakers,
 * crash, cable, whoAnswers, watchNeighbor, httpLoop, birdRoutes, baregateStatus, …) works unchanged on a lab.
 *
 * Addresses (documentation ranges only; the Topology's LAN, WAN and POOLS constants stay as they are):
 * ```
 *  mgmt bridge 198.51.100.32/27   cp 198.51.100.33 (apiserver :6443), node i 198.51.100.(40+i)
 *  pods, node i                   198.51.100.(64+8(i-1))/29 (gateway .+1 on the node), 2001:db8:100:i::/64 (gateway ::1)
 *  Service cluster IPs            198.51.100.224/28, 2001:db8:96::/112
 *  LAN, WAN, pools                as in test/netlab/topology.ts (L2 pool 'lan' in the LAN, BGP pool 'routed')
 * ```
 * At most {@link LAB_MAX_NODES} nodes (the pod /29s must fit in 198.51.100.64/26).
 */
import type { RunResult } from '../../test/harness/cluster.ts';
import type { Topology } from '../../test/netlab/topology.ts';

/** Upper bound of `--nodes`. */
export const LAB_MAX_NODES = 8;

/** The lab's own address plan (see the module comment). */
export const LAB_NET = {
  mgmt: '198.51.100.32/27',
  cp: '198.51.100.33',
  apiPort: 6443,
  mgmtNode: (i: number): string => `198.51.100.${40 + i}`,
  podCIDR4: (i: number): string => `198.51.100.${64 + 8 * (i - 1)}/29`,
  podCIDR6: (i: number): string => `2001:db8:100:${i.toString(16)}::/64`,
  serviceCIDRs: ['198.51.100.224/28', '2001:db8:96::/112'],
  clusterCIDRs: ['198.51.100.64/26', '2001:db8:100::/56'],
} as const;

/** Port every lab pod's HTTP server listens on (Services use it as targetPort). */
export const POD_PORT = 8080;

/** Options of {@link startLab}. */
export interface LabOptions {
  /** Number of nodes, 1..LAB_MAX_NODES (default 3). */
  nodes?: number;
  /** Namespace tag, short (network namespaces are `bg<tag>-…`; default `lab`). */
  tag?: string;
  /** Start the BIRD router (default true). */
  bird?: boolean;
  /** Start the baregate controller and every node's speaker before resolving (default true). */
  baregate?: boolean;
  /** Progress messages (what is being built or started; a cold first run builds Kubernetes for minutes). */
  log?: (msg: string) => void;
}

/** One pod of the lab: a namespace attached to its node, with a Pod object whose status the lab maintains. */
export interface LabPod {
  /** Pod name (also in its HTTP answer). */
  readonly name: string;
  /** Kubernetes namespace of the Pod object (`default`). */
  readonly namespace: string;
  /** Node it runs on. */
  readonly node: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** Its `app` label: Services select pods by it. */
  readonly app: string;
}

/**
 * What a pod runs instead of the demo server: the gateway pods run a real nginx (tools/lab/gateway.ts). Given to
 * {@link LabCluster.deployApp}; the process is started in the pod's namespace once its addresses are up and is
 * killed with the pod (deletePod, destroy).
 */
export interface PodProgram {
  /** The command line for `pod` (it may write the files it needs first: config under the lab's own directory). */
  command(pod: LabPod): { cmd: string; args: string[] };
  /** Resolves when the program serves on POD_PORT; the Pod is marked Ready only then. Bounded by the program. */
  ready(pod: LabPod): Promise<void>;
}

/** A LoadBalancer Service as the lab creates it. */
export interface LabServiceOptions {
  /** Fixed IPs (`baregate.io/loadBalancerIPs`); omitted: the controller picks from `pool`, one per family. */
  ips?: string[];
  /** Families when `ips` is omitted (default both: RequireDualStack). */
  families?: ('IPv4' | 'IPv6')[];
  /** Address pool (default the L2 pool `lan`). */
  pool?: string;
  /** externalTrafficPolicy Local. */
  local?: boolean;
  /** `baregate.io/allow-shared-ip` key. */
  sharing?: string;
  /** Service port (default 80; targetPort is always POD_PORT). */
  port?: number;
  protocol?: 'TCP' | 'UDP';
  /** spec.allocateLoadBalancerNodePorts (default: Kubernetes' default, true). */
  allocateNodePorts?: boolean;
  /** Pods selected: `app=<selector>` (default the Service name). */
  selector?: string;
}

/**
 * A running lab. It is a {@link Topology} (same methods, same node names n1..nN, clients `client` on the LAN
 * and `wclient` behind the router), plus what a whole cluster needs.
 */
export interface LabCluster extends Topology {
  /** Admin kubeconfig usable from the root namespace (https://127.0.0.1:PORT through the lab's relay). */
  readonly kubeconfigPath: string;
  /** Directory with the lab's files: kubeconfigs, logs of every component (`<component>-<node>.log`). */
  readonly dir: string;
  /** Directory holding kubectl and the other Kubernetes binaries of this lab. */
  readonly binDir: string;
  /** Pods by name. */
  readonly pods: ReadonlyMap<string, LabPod>;

  /**
   * Pods for app `app`, one per entry of `nodes` (a node may repeat), each serving HTTP on POD_PORT (TCP, and
   * UDP echo on the same port) and answering `pod=<pod> node=<node>`; resolves when every Pod object is
   * Running and Ready with its podIPs (v4 and v6) and its server answers. With `program`, the pods run that
   * instead (e.g. nginx) and are Ready once its `ready` resolves.
   */
  deployApp(app: string, nodes: string[], program?: PodProgram): Promise<LabPod[]>;
  /** Sets a pod's Ready condition (what a kubelet's readiness probe would do). */
  setPodReady(pod: string, ready: boolean): Promise<void>;
  /** Deletes a pod: its Pod object and its namespace. */
  deletePod(pod: string): Promise<void>;

  /** Creates or updates a LoadBalancer Service (see {@link LabServiceOptions}). */
  lbService(name: string, opts?: LabServiceOptions): Promise<void>;
  /** NodePorts the Service was given (empty when none). */
  nodePorts(name: string): Promise<number[]>;

  /** Whether a node's kube-proxy runs; stop (SIGTERM, waits) and start (waits until it has synced rules). */
  kubeProxyRunning(node: string): boolean;
  stopKubeProxy(node: string): Promise<void>;
  startKubeProxy(node: string): Promise<void>;

  /** Cuts (false) or restores (true) a node's management link: the apiserver becomes unreachable from it. */
  apiAccess(node: string, on: boolean): void;

  /** Stops the baregate controller (SIGTERM) and starts it again; resolves when it is leader again. */
  restartController(): Promise<void>;
  /** Stops kube-apiserver for `downMs` and starts it again (same etcd, same certs); resolves when ready. */
  restartApiserver(opts?: { downMs?: number }): Promise<void>;

  /**
   * Marks every pod on `node` NotReady, as the node lifecycle controller would after its grace period (no kubelet
   * runs, so the lab does it): used after a crash so traffic is not sent to pods of a dead node.
   */
  evictNode(node: string): Promise<void>;

  /** kubectl as admin from the root namespace (never throws on a non-zero exit). */
  kubectl(args: string[], stdin?: string): Promise<RunResult>;
}

/** Brings a lab up. Replaced by the implementation in tools/lab/cluster.ts. */
export type StartLab = (opts?: LabOptions) => Promise<LabCluster>;
