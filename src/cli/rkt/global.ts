import path from 'node:path';
import type { Argv } from 'yargs';
import { DEFAULT_PATHS, type RktContext } from '../../config/context.ts';
import { INSECURE_CHECKS, parseInsecureOptions, type InsecureCheck } from '../../config/insecure.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { setDebug } from '../../util/log.ts';

// rkt's global flags, as CoreOS rkt has them. There are no environment fallbacks: what
// a command does is all on its command line, so a provisioning script's log shows it.

export interface GlobalArgs {
  dir: string;
  'local-config': string;
  'system-config': string;
  'insecure-options': ReadonlySet<InsecureCheck>;
  'trust-keys-from-https': boolean;
  debug: boolean;
}

const GROUP = 'Global options:';

/** Adds the global flags to the top-level parser; every command sees them. */
export function addGlobalFlags<T>(y: Argv<T>): Argv<T & GlobalArgs> {
  const insecureValues = ['none', 'all-fetch', 'all-run', 'all', ...INSECURE_CHECKS].join(', ');
  return y
    .option('dir', {
      type: 'string',
      default: DEFAULT_PATHS.dir,
      global: true,
      group: GROUP,
      coerce: absoluteDir('--dir'),
      describe: 'rkt data directory: the image store and the pods',
    })
    .option('local-config', {
      type: 'string',
      default: DEFAULT_PATHS.localConfig,
      global: true,
      group: GROUP,
      coerce: absoluteDir('--local-config'),
      describe: 'local (administrator) configuration directory; overrides --system-config',
    })
    .option('system-config', {
      type: 'string',
      default: DEFAULT_PATHS.systemConfig,
      global: true,
      group: GROUP,
      coerce: absoluteDir('--system-config'),
      describe: 'system (vendor) configuration directory',
    })
    .option('insecure-options', {
      type: 'string',
      global: true,
      group: GROUP,
      // Repeated flags arrive as an array; each may be a comma list.
      coerce: (v: string | string[] | undefined) => parseInsecureOptions(v),
      describe: `comma-separated security checks to switch off (repeatable): ${insecureValues}`,
    })
    .option('trust-keys-from-https', {
      type: 'boolean',
      default: false,
      global: true,
      group: GROUP,
      describe: 'trust the keys of an image prefix found by discovery over HTTPS without asking',
    })
    .option('debug', {
      type: 'boolean',
      default: false,
      global: true,
      group: GROUP,
      describe: 'log details to stderr',
    })
    .middleware((args) => setDebug(Boolean(args['debug']))) as unknown as Argv<T & GlobalArgs>;
}

/** The RktContext every library call receives, from the parsed global flags. */
export function contextFrom(argv: Partial<GlobalArgs>): RktContext {
  return {
    dir: argv.dir ?? DEFAULT_PATHS.dir,
    localConfig: argv['local-config'] ?? DEFAULT_PATHS.localConfig,
    systemConfig: argv['system-config'] ?? DEFAULT_PATHS.systemConfig,
    insecure: argv['insecure-options'] ?? new Set(),
    trustKeysFromHttps: argv['trust-keys-from-https'] ?? false,
    warn: (line) => {
      process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
    },
  };
}

/** The global flags that take a value, which follows as the next token unless given with `=`. */
const VALUE_FLAGS = ['--dir', '--local-config', '--system-config', '--insecure-options'];

/** Where the command word is in `argv` (the first token that is not a global flag or its value); -1 when there is none. */
export function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (VALUE_FLAGS.includes(token)) i++;
    else if (!token.startsWith('-')) return i;
  }
  return -1;
}

function absoluteDir(flag: string): (v: string | string[]) => string {
  return (v) => {
    // Given twice, the last one wins, as with rkt's flags.
    const value = Array.isArray(v) ? v[v.length - 1] : v;
    if (value === undefined || value === '') throw new UserError(`${flag}: "" is not a valid directory`, ExitCode.usage);
    return path.resolve(value);
  };
}
