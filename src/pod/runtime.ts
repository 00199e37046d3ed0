// runtime.json: what stage0 decided for a pod at prepare time, beside the pod manifest.
// The manifest says what the pod is (appc); this says how this runtime runs it: which
// trees, overlay or copy, each app's resolved user and environment, the run options.
// Written once, atomically, before the pod leaves prepare/.

export const RUNTIME_VERSION = 1;

/** One app as the stage1 init runs it (docs/stage1-interface.md, stage1.conf). */
export interface AppRuntime {
  name: string;
  imageId: string;
  treeId: string;
  /** argv; exec[0] absolute. */
  exec: string[];
  /** The whole environment, NAME=value. */
  env: string[];
  uid: number;
  gid: number;
  groups: number[];
  cwd: string;
  /** Capability bounding set: a hexadecimal bit mask by capability number (JSON has no 64-bit integers). */
  caps: string;
  noNewPrivileges: boolean;
  preStart: string[];
  postStop: string[];
  readOnlyRootFS: boolean;
}

export interface Stage1Runtime {
  imageId: string;
  treeId: string;
  name: string;
  arch: string;
  /** Entrypoint paths in the stage1 rootfs, from its annotations. */
  entrypoints: { run: string; enter: string; stop: string; gc: string };
}

/**
 * host: the host's network namespace; none: one of its own with only loopback;
 * private: one of its own that stage0 joins to CNI networks (`networks`) before the
 * hand-over (src/stage0/network.ts, docs/networking.md).
 */
export type NetMode = 'host' | 'none' | 'private';

export interface RunOptions {
  hostname: string;
  net: NetMode;
  /** With net private: the networks by name, in order (eth0, eth1...); `default` is rkt's own. */
  networks?: string[];
  interactive: boolean;
  /** --dns, --dns-search, --dns-opt (src/stage0/dns.ts); absent: none was given, the image's /etc/resolv.conf stays. */
  dns?: PodDns;
  /** --hosts-entry (src/stage0/dns.ts); absent: none was given, the image's /etc/hosts stays. */
  hosts?: PodHosts;
}

/**
 * The pod's /etc/resolv.conf. host: POD/resolv.conf is the host's, copied at prepare;
 * none: the image's file stays (no POD/resolv.conf); pod: POD/resolv.conf is written
 * from these lists.
 */
export interface PodDns {
  mode: 'host' | 'none' | 'pod';
  nameservers: string[];
  search: string[];
  options: string[];
}

/** The pod's /etc/hosts, POD/hosts. host: the host's, copied at prepare; pod: localhost, the hostname and these entries. */
export interface PodHosts {
  mode: 'host' | 'pod';
  entries: { ip: string; names: string[] }[];
}

export interface PodRuntime {
  version: typeof RUNTIME_VERSION;
  uuid: string;
  createdAt: string;
  stage1: Stage1Runtime;
  apps: AppRuntime[];
  /** false: the roots were copied at prepare (--no-overlay, or overlay unusable here). */
  overlay: boolean;
  options: RunOptions;
}
