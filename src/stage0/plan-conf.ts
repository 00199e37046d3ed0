import { join } from 'node:path';
import { POD_FILES } from '../pod/layout.ts';
import type { NetMode } from '../pod/runtime.ts';
import { UserError } from '../util/errors.ts';
import type { InRoot, MountOp, MountPlan } from './mount-plan.ts';

// POD/rkt/stage0-plan.conf: the hand-over as data, for the stage1 init's `takeover`
// verb (native/takeover.c), which does in C what handover.ts does through FFI where
// koffi cannot load. The style of stage1.conf: a flat list of NUL-terminated strings
// read as key, value, key, value; the pod's keys first, then each `op` followed by its
// own. Pure, so the format can be checked byte by byte.

export const PLAN_CONF_VERSION = '1';

/** Where stage0 writes the plan, relative to the pod directory. */
export const PLAN_CONF_FILE = join(POD_FILES.rkt, 'stage0-plan.conf');

export interface PlanConfInput {
  plan: MountPlan;
  hostname: string;
  /** `none`: the pod gets a network namespace of its own; `private`: it joins `netns`. */
  net: NetMode;
  /** With net private: the network namespace file (POD/netns) the takeover setns's into. */
  netns?: string | undefined;
  /** The fd number the pod lock has in the takeover process: kept open across its exec. */
  lockFd: number;
  /** The run entrypoint, a path in the stage1 root, executed there with argv[1] `run`. */
  entrypoint: string;
}

type Pair = readonly [key: string, value: string];

/** The file's bytes. A value holding a NUL (it would end the string early) is a UserError. */
export function serializePlanConf(input: PlanConfInput): Buffer {
  const pairs: Pair[] = [
    ['version', PLAN_CONF_VERSION],
    ['hostname', input.hostname],
    ['net', input.net],
    ...(input.net === 'private' ? [['netns', input.netns ?? '']] as Pair[] : []),
    ['lock-fd', String(input.lockFd)],
    ['stage1-root', input.plan.stage1Root],
    ['entrypoint', input.entrypoint],
    ...input.plan.ops.flatMap(opPairs),
  ];
  if (input.net === 'private' && !input.netns) throw new UserError('stage0-plan.conf: net private needs the netns file');
  for (const [key, value] of pairs) {
    if (value.includes('\0')) throw new UserError(`stage0-plan.conf: ${key} ${JSON.stringify(value)} contains a NUL byte`);
  }
  return Buffer.from(pairs.map(([key, value]) => `${key}\0${value}\0`).join(''), 'utf8');
}

function opPairs(op: MountOp): Pair[] {
  const pairs: Pair[] = [['op', op.op], ...inRoot('', op.target)];
  switch (op.op) {
    case 'mkdir':
      if (op.owner) pairs.push(['mode', op.owner.mode.toString(8).padStart(4, '0')], ['uid', String(op.owner.uid)], ['gid', String(op.owner.gid)]);
      break;
    case 'mount':
      pairs.push(['fstype', op.fstype], ['source', op.source], ['data', op.data], ...flags(op.flags));
      break;
    case 'bind':
      pairs.push(...(typeof op.source === 'string' ? [['source', op.source] as const] : inRoot('source-', op.source)));
      pairs.push(['recursive', bit(op.recursive)], ['read-only', bit(op.readOnly)], ...flags(op.flags));
      break;
    case 'bind-device':
      pairs.push(['source', op.source]);
      break;
    case 'symlink':
      pairs.push(['link-to', op.linkTo]);
      break;
    case 'remount-ro':
      pairs.push(...flags(op.flags));
      break;
  }
  return pairs;
}

function inRoot(prefix: string, p: InRoot): Pair[] {
  return [
    [`${prefix}root`, p.root],
    [`${prefix}path`, p.path],
  ];
}

const flags = (list: readonly string[]): Pair[] => list.map((f) => ['flag', f]);
const bit = (b: boolean) => (b ? '1' : '0');
