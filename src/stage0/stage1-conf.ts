import type { AppRuntime } from '../pod/runtime.ts';
import { appRootInStage1 } from '../pod/layout.ts';
import { UserError } from '../util/errors.ts';

// POD/rkt/stage1.conf: the apps, for the stage1 init (docs/stage1-interface.md,
// "stage1.conf"). A flat list of NUL-terminated strings read as key, value, key,
// value: the pod's keys first, then each `app` followed by its own. Pure, so it can
// be checked against the format byte by byte.

export const STAGE1_CONF_VERSION = '1';

/** The file's bytes. A value holding a NUL (it would end the string early) is a UserError. */
export function serializeStage1Conf(
  apps: readonly AppRuntime[],
  opts: { interactive: boolean; cgroups?: { pod: readonly string[]; apps: ReadonlyMap<string, readonly string[]> } | undefined },
): Buffer {
  const pairs: [string, string][] = [
    ['version', STAGE1_CONF_VERSION],
    ['interactive', opts.interactive ? '1' : '0'],
  ];
  // The pod's cgroups as stage1 sees them (cgroups.ts): PID 1 joins their stage1.init, and the outer process removes them at the end.
  for (const dir of opts.cgroups?.pod ?? []) pairs.push(['cgroup', dir]);
  for (const app of apps) {
    if (app.exec.length === 0) throw new UserError(`stage1.conf: app ${app.name} has nothing to execute`);
    const add = (key: string, value: string) => {
      if (value.includes('\0')) throw new UserError(`stage1.conf: app ${app.name}: ${key} ${JSON.stringify(value)} contains a NUL byte`);
      pairs.push([key, value]);
    };
    add('app', app.name);
    add('root', appRootInStage1(app.name));
    for (const arg of app.exec) add('exec', arg);
    for (const variable of app.env) add('env', variable);
    add('uid', String(app.uid));
    add('gid', String(app.gid));
    add('groups', app.groups.join(','));
    add('cwd', app.cwd);
    add('caps', app.caps);
    if (app.noNewPrivileges) add('nnp', '1');
    // The app's cgroups: stage1 puts the app (and its handlers) in them before exec.
    for (const dir of opts.cgroups?.apps.get(app.name) ?? []) add('cgroup', dir);
    for (const arg of app.preStart) add('pre-start', arg);
    for (const arg of app.postStop) add('post-stop', arg);
  }
  return Buffer.from(pairs.map(([key, value]) => `${key}\0${value}\0`).join(''), 'utf8');
}
