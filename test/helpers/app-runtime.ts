import type { AppRuntime } from '../../src/pod/runtime.ts';

// One app of a runtime.json as tests write it by hand: what stage0 would resolve for an
// image with nothing set (root, "/", no capabilities), with the fields a test cares about
// given in `over`.

export function appRuntime(name: string, over: Partial<AppRuntime> = {}): AppRuntime {
  return {
    name,
    imageId: 'sha512-' + '0'.repeat(128),
    treeId: `tree-${name}`,
    exec: ['/bin/true'],
    env: [],
    uid: 0,
    gid: 0,
    groups: [],
    cwd: '/',
    caps: '0',
    noNewPrivileges: false,
    preStart: [],
    postStop: [],
    readOnlyRootFS: false,
    ...over,
  };
}
