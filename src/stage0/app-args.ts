import { isACName } from '../appc/names.ts';
import { parseQuantity } from '../appc/quantity.ts';
import { ExitCode, UserError } from '../util/errors.ts';

// rkt's multi-app command line (CoreOS rkt's `rkt run`):
//
//   rkt run [pod flags] IMAGE [app flags] [-- ARGS...] [---] [IMAGE2 [app flags] [-- ARGS...]] ...
//
// Everything before the first image is the pod's, and is handed back untouched for
// yargs. After an image come its own flags; `--` starts its arguments, which run to
// `---` (or the end); a bare word in the flag part, or the word after `---`, is the
// next image. Pure: no I/O, errors are one-line usage errors naming the flag.

/** One image on the command line and the flags that followed it. */
export interface AppArgs {
  /** As written: a file, a URL, an image name or an image ID. */
  image: string;
  /** --exec: replaces the image's whole exec. */
  exec?: string;
  name?: string;
  user?: string;
  group?: string;
  supplementaryGIDs?: number[];
  workingDir?: string;
  readOnlyRootFS?: boolean;
  mounts: AppMount[];
  environment: { name: string; value: string }[];
  /** --signature: a local detached signature of this image. */
  signature?: string;
  /** --memory: the app's resource/memory limit (and request), a quantity such as 32M or 128Mi. */
  memory?: string;
  /** --cpu: the app's resource/cpu limit (and request) in cores, such as 500m or 2. */
  cpu?: string;
  /** What followed `--` (empty when `--` ended the line); absent without `--`. */
  args?: string[];
}

/** --mount volume=NAME,target=PATH. */
export interface AppMount {
  volume: string;
  target: string;
}

/**
 * The pod (and global) flags that take a value: `--flag value` must not be read as
 * `--flag` and an image called `value`. The CLI defines these flags; it keeps this
 * list in sync (a test there checks every string option of `rkt run` is in it).
 */
export const POD_VALUE_FLAGS: readonly string[] = [
  // global
  'dir',
  'local-config',
  'system-config',
  'insecure-options',
  // network options of commands that fetch
  'ca-file',
  'resolve',
  // pod
  'pull-policy',
  'volume',
  'set-env',
  'set-env-file',
  'hostname',
  'net',
  'port',
  'dns',
  'dns-search',
  'dns-opt',
  'hosts-entry',
  'pod-manifest',
  'stage1-path',
  'stage1-hash',
  'stage1-name',
  'uuid-file-save',
  'format',
];

const APP_VALUE_FLAGS = ['exec', 'name', 'user', 'group', 'supplementary-gids', 'working-dir', 'mount', 'environment', 'signature', 'memory', 'cpu'] as const;
type AppValueFlag = (typeof APP_VALUE_FLAGS)[number];
const APP_BOOLEAN_FLAGS = ['readonly-rootfs'] as const;

const MAX_ID = 2 ** 32 - 1;

/** Splits the argv after `run` (or `prepare`) into the pod's flags and the apps. */
export function splitRunArgs(tokens: string[]): { podArgs: string[]; apps: AppArgs[] } {
  const podArgs: string[] = [];
  let i = 0;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '--' || t === '---') throw usage(`"${t}" must follow an image`);
    if (!isFlag(t)) break;
    if ([...APP_VALUE_FLAGS, ...APP_BOOLEAN_FLAGS].includes(flagName(t) as AppValueFlag)) {
      throw usage(`${flagText(t)} is an app flag: put it after the image it is for`);
    }
    podArgs.push(t);
    if (!t.includes('=') && POD_VALUE_FLAGS.includes(flagName(t))) {
      if (i + 1 >= tokens.length) throw usage(`${t} needs a value`);
      podArgs.push(tokens[++i]!);
    }
  }

  const apps: AppArgs[] = [];
  let app: AppArgs | undefined;
  while (i < tokens.length) {
    const t = tokens[i++]!;
    if (app === undefined) {
      if (t === '--' || t === '---') throw usage(`"${t}" must follow an image`);
      if (isFlag(t)) throw usage(`${flagText(t)} must follow an image (pod flags go before the first image)`);
      app = { image: t, mounts: [], environment: [] };
      apps.push(app);
      continue;
    }
    if (t === '---') {
      app = undefined;
      continue;
    }
    if (t === '--') {
      const end = tokens.indexOf('---', i);
      app.args = tokens.slice(i, end < 0 ? tokens.length : end);
      i = end < 0 ? tokens.length : end + 1;
      app = undefined;
      continue;
    }
    if (!isFlag(t)) {
      app = { image: t, mounts: [], environment: [] };
      apps.push(app);
      continue;
    }
    const name = flagName(t);
    const eq = t.indexOf('=');
    if ((APP_BOOLEAN_FLAGS as readonly string[]).includes(name)) {
      app.readOnlyRootFS = eq < 0 ? true : parseBoolean(t.slice(eq + 1), t);
      continue;
    }
    if (!(APP_VALUE_FLAGS as readonly string[]).includes(name)) {
      const hint = POD_VALUE_FLAGS.includes(name) ? ' (pod flags go before the first image)' : '';
      throw usage(`unknown flag ${flagText(t)} for image ${app.image}${hint}`);
    }
    let value: string;
    if (eq >= 0) {
      value = t.slice(eq + 1);
    } else {
      if (i >= tokens.length) throw usage(`--${name} needs a value`);
      value = tokens[i++]!;
    }
    applyAppFlag(app, name as AppValueFlag, value);
  }
  return { podArgs, apps };
}

function applyAppFlag(app: AppArgs, flag: AppValueFlag, value: string): void {
  const once = <K extends keyof AppArgs>(key: K, v: AppArgs[K]): void => {
    if (app[key] !== undefined) throw usage(`--${flag} given twice for image ${app.image}`);
    app[key] = v;
  };
  switch (flag) {
    case 'exec':
      if (value === '') throw usage(`--exec for image ${app.image} must not be empty`);
      return once('exec', value);
    case 'name':
      if (!isACName(value)) throw usage(`--name "${value}" must be an AC Name (lowercase letters, digits and - between them)`);
      return once('name', value);
    case 'user':
      if (value === '') throw usage(`--user for image ${app.image} must not be empty`);
      return once('user', value);
    case 'group':
      if (value === '') throw usage(`--group for image ${app.image} must not be empty`);
      return once('group', value);
    case 'supplementary-gids':
      return once('supplementaryGIDs', parseGids(value));
    case 'working-dir':
      if (!value.startsWith('/')) throw usage(`--working-dir "${value}" must be an absolute path`);
      return once('workingDir', value);
    case 'signature':
      if (value === '') throw usage(`--signature for image ${app.image} must not be empty`);
      return once('signature', value);
    case 'memory':
      return once('memory', checkQuantity(flag, value, '32M or 128Mi'));
    case 'cpu':
      return once('cpu', checkQuantity(flag, value, '500m or 2'));
    case 'mount':
      app.mounts.push(parseMount(value));
      return;
    case 'environment':
      app.environment.push(parseEnvAssignment(value, '--environment'));
      return;
  }
}

/** --memory and --cpu: a quantity as spec/ace.md writes them, not negative. */
function checkQuantity(flag: string, value: string, example: string): string {
  let n: number;
  try {
    n = parseQuantity(value);
  } catch {
    throw usage(`--${flag} "${value}" is not a quantity such as ${example}`);
  }
  if (n < 0) throw usage(`--${flag} "${value}" must not be negative`);
  return value;
}

/** `NAME=VALUE` of --environment and --set-env; names as spec/aci.md allows them. */
export function parseEnvAssignment(text: string, flag: string): { name: string; value: string } {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !isEnvName(name)) throw usage(`${flag} "${text}" must be NAME=VALUE, NAME made of letters, digits, _ . and -`);
  return { name, value: text.slice(eq + 1) };
}

/** spec/aci.md: letters, digits and underscores, and in practice periods and hyphens; not starting with a digit. */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_.-][A-Za-z0-9_.-]*$/.test(name);
}

/** --mount volume=NAME,target=PATH. */
export function parseMount(text: string): AppMount {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (eq < 0 || (key !== 'volume' && key !== 'target')) {
      throw usage(`--mount "${text}": "${part}" is not volume=NAME or target=PATH`);
    }
    if (fields.has(key)) throw usage(`--mount "${text}": ${key} given twice`);
    fields.set(key, part.slice(eq + 1));
  }
  const volume = fields.get('volume');
  const target = fields.get('target');
  if (volume === undefined || target === undefined) throw usage(`--mount "${text}" must be volume=NAME,target=PATH`);
  if (!isACName(volume)) throw usage(`--mount "${text}": volume "${volume}" must be an AC Name (lowercase letters, digits and - between them)`);
  if (!target.startsWith('/')) throw usage(`--mount "${text}": target "${target}" must be an absolute path`);
  return { volume, target };
}

function parseGids(text: string): number[] {
  if (text === '') return [];
  return text.split(',').map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n <= MAX_ID)) throw usage(`--supplementary-gids "${text}": "${s}" is not a group ID`);
    return n;
  });
}

function parseBoolean(text: string, flag: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw usage(`${flagText(flag)} takes true or false, not "${text}"`);
}

function isFlag(t: string): boolean {
  return t.startsWith('-') && t.length > 1;
}

/** `--a-b=x` -> `a-b`; `-x` -> `x`. */
function flagName(t: string): string {
  const bare = t.replace(/^--?/, '');
  const eq = bare.indexOf('=');
  return eq < 0 ? bare : bare.slice(0, eq);
}

function flagText(t: string): string {
  const eq = t.indexOf('=');
  return eq < 0 ? t : t.slice(0, eq);
}

function usage(message: string): UserError {
  return new UserError(`run: ${message}`, ExitCode.usage);
}
