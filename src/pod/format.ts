import { describeNetworks } from '../stage0/network.ts';
import { relativeTime } from '../image/list.ts';
import { tabulate } from '../util/table.ts';
import { podExitCode, podHasExited, type AppInfo, type PodInfo } from './info.ts';
import type { PodState } from './state.ts';

// How `rkt list` and `rkt status` show pods: rkt's table and key=value lines for people,
// and one JSON shape for scripts (both commands print it: list an array, status one).

/** A pod as `rkt list --format json` and `rkt status --format json` print it. Field names are an interface: never rename. */
export interface PodJson {
  uuid: string;
  state: PodState;
  /** The pod directory. */
  path: string;
  /** RFC 3339, as every time below. */
  createdAt: string;
  startedAt?: string;
  /** When every app had started (stage1 wrote rkt/ready); kept once the pod exits. */
  readyAt?: string;
  exitedAt?: string;
  /** The host PID of the pod's PID 1, while it runs. */
  pid?: number;
  /** While the pod runs: whether every app has started (what `status --wait-ready` waits for). */
  ready?: boolean;
  /** Whether the pod ran and is over. */
  exited: boolean;
  /** Once exited: the status of the first app (manifest order) that failed, else 0; absent when unknown (stage1 killed, never started). */
  exitCode?: number;
  apps: AppInfo[];
}

export function podJson(info: PodInfo): PodJson {
  const exited = podHasExited(info);
  return {
    uuid: info.uuid,
    state: info.state,
    path: info.path,
    createdAt: info.createdAt,
    ...(info.startedAt && { startedAt: info.startedAt }),
    ...(info.readyAt && { readyAt: info.readyAt }),
    ...(info.exitedAt && { exitedAt: info.exitedAt }),
    ...(info.pid !== undefined && { pid: info.pid }),
    ...(info.state === 'running' && { ready: info.ready }),
    exited,
    ...(exited && podExitCode(info) !== undefined && { exitCode: podExitCode(info) }),
    apps: info.apps,
  };
}

export interface PodTableOptions {
  /** Whole UUIDs and RFC 3339 times instead of 8 characters and "5 minutes ago". */
  full: boolean;
  legend: boolean;
  now?: Date;
}

const LEGEND = ['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS'];

/**
 * rkt's table: a row per app, the pod's columns on its first app's row only, laid out
 * with tabs to stops of 8 as rkt's tabwriter does.
 */
export function formatPodTable(pods: readonly PodInfo[], opts: PodTableOptions): string {
  const now = opts.now ?? new Date();
  const time = (t: string | undefined) => (t === undefined ? '-' : opts.full ? t : relativeTime(t, now));
  const rows: string[][] = opts.legend ? [LEGEND] : [];
  for (const pod of pods) {
    const apps = pod.apps.length > 0 ? pod.apps : [undefined];
    apps.forEach((app, i) => {
      const appCells = [app?.name ?? '-', app ? imageText(pod, app) : '-'];
      // NETWORKS, as rkt: name:ip4=ADDRESS of each network of a running pod (POD/net, network.ts).
      const networks = pod.state === 'running' ? describeNetworks(pod.path) : '';
      if (i === 0) rows.push([opts.full ? pod.uuid : pod.uuid.slice(0, 8), ...appCells, pod.state, time(pod.createdAt), time(pod.startedAt), ...(networks ? [networks] : [])]);
      else rows.push(['', ...appCells]);
    });
  }
  return tabulate(rows);
}

/** name:version as rkt shows an image, from the manifest's labels; the short image ID when it has no name. */
function imageText(pod: PodInfo, app: AppInfo): string {
  const image = pod.manifest?.apps.find((a) => a.name === app.name)?.image;
  const version = image?.labels.find((l) => l.name === 'version')?.value;
  const name = app.imageName ?? app.imageId?.slice(0, 'sha512-'.length + 32) ?? '-';
  return version === undefined || app.imageName === undefined ? name : `${name}:${version}`;
}

/** `rkt status` in text, one key=value a line as rkt prints it. */
export function formatPodStatus(info: PodInfo): string {
  const lines = [`state=${info.state}`, `created=${info.createdAt}`];
  if (info.startedAt) lines.push(`started=${info.startedAt}`);
  if (info.state === 'running') {
    if (info.pid !== undefined) lines.push(`pid=${info.pid}`);
    lines.push('exited=false');
  } else if (podHasExited(info)) {
    lines.push('exited=true');
    if (info.exitedAt) lines.push(`exited-at=${info.exitedAt}`);
  }
  for (const app of info.apps) if (app.exitCode !== undefined) lines.push(`app-${app.name}=${app.exitCode}`);
  return lines.map((l) => `${l}\n`).join('');
}
