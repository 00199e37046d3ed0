import type { CommandModule } from 'yargs';
import { Keystore, type TrustedKeyInfo } from '../../trust/keystore.ts';
import { checkPrefix, describeScope, ROOT, type TrustScope } from '../../trust/scope.ts';
import { trustKeys, untrustKey, type TrustOutcome, type UntrustOutcome } from '../../trust/trust-keys.ts';
import { ExitCode, UserError } from '../../util/errors.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { networkFrom, withNetworkOptions, type NetworkArgs } from '../network-options.ts';
import { contextFrom, type GlobalArgs } from './global.ts';

interface Args extends GlobalArgs, NetworkArgs {
  keys: string[];
  prefix?: string;
  root: boolean;
  'skip-fingerprint-review': boolean;
  list: boolean;
  remove?: string;
  format: Format;
}

export const trustCommand: CommandModule<GlobalArgs, Args> = {
  command: 'trust [keys..]',
  describe: 'Trust a public key for verifying image signatures, list trusted keys or remove one',
  builder: (y) =>
    withNetworkOptions(withFormat(y))
      .positional('keys', { type: 'string', array: true, default: [], describe: 'public key files or https:// URLs' })
      .option('prefix', { type: 'string', describe: 'trust the key for images whose names are under this prefix' })
      .option('root', { type: 'boolean', default: false, describe: 'trust the key for every image (needs a key file or URL)' })
      .option('skip-fingerprint-review', { type: 'boolean', default: false, describe: 'trust without asking (for scripts)' })
      .option('list', { type: 'boolean', default: false, describe: 'list the trusted keys' })
      .option('remove', { type: 'string', describe: 'stop trusting the key with this fingerprint (in --prefix/--root, else everywhere)' })
      .example('$0 trust --prefix=example.com/app', "discover the prefix's key (ac-discovery-pubkeys), review and trust it")
      .example('$0 trust --root --skip-fingerprint-review ./key.asc', 'trust a side-loaded key for every image, in a script')
      .example('$0 trust --list --format json', 'the trusted keys, for scripts')
      .example('$0 trust --remove 8b86de38890ddb7291867b025210bd8888182190', 'stop trusting a key')
      .epilogue(
        'Keys live in <local-config>/trustedkeys/{root.d,prefix.d/<prefix>}/<fingerprint> over the same layout in ' +
          '<system-config>; an empty local file masks a system key. JSON: --list gives [{fingerprint, userIds, scope, layer, path}].',
      ),
  handler: async (args) => {
    // Checked here rather than with yargs' `conflicts`, which counts a default as given.
    const mode = checkMode(args);
    const ctx = contextFrom(args);
    if (mode === 'list') return printList(args.format, await new Keystore(ctx).list());
    const scope = scopeFrom(args);
    if (mode === 'remove') return printRemoved(args.format, await untrustKey(ctx, args.remove!, scope), scope);
    if (scope === undefined) {
      throw new UserError('trust: say for which images: --prefix=example.com/app (names under it) or --root (every image)', ExitCode.usage);
    }
    const outcomes = await trustKeys(ctx, { scope, keys: args.keys, skipReview: args['skip-fingerprint-review'] }, await networkFrom(args));
    if (!printJson(args.format, outcomes.map(outcomeJson))) process.stdout.write(outcomes.map(outcomeLine).join(''));
    const declined = outcomes.filter((o) => o.status === 'declined');
    if (declined.length > 0) throw new UserError(`trust: key ${declined.map((o) => o.fingerprint).join(', ')} not trusted: answered no`);
  },
};

function checkMode(args: Args): 'list' | 'remove' | 'add' {
  const usage = (why: string): never => {
    throw new UserError(`trust: ${why}`, ExitCode.usage);
  };
  if (args.root && args.prefix !== undefined) usage('--root and --prefix exclude each other: a key is trusted for every image or for a prefix');
  if (args.list) {
    if (args.root || args.prefix !== undefined || args.remove !== undefined || args.keys.length > 0) usage('--list takes no key, scope or --remove');
    return 'list';
  }
  if (args.remove === undefined) return 'add';
  if (args.keys.length > 0) usage('--remove takes a fingerprint, not key files');
  return 'remove';
}

function scopeFrom(args: Args): TrustScope | undefined {
  if (args.root) return ROOT;
  return args.prefix === undefined ? undefined : { prefix: checkPrefix(args.prefix) };
}

function outcomeLine(o: TrustOutcome): string {
  if (o.status === 'declined') return `Not trusting key ${o.fingerprint} from ${o.location}\n`;
  const where = `${describeScope(o.key!.scope)} at ${o.key!.path}`;
  if (o.status === 'added') return `Added key ${o.fingerprint} for ${where}\n`;
  if (o.status === 'updated') return `Key ${o.fingerprint} is already trusted for ${where}; merged the newer copy (expiry, revocation, subkeys)\n`;
  return `Key ${o.fingerprint} is already trusted for ${where}\n`;
}

function outcomeJson(o: TrustOutcome): object {
  return { status: o.status, fingerprint: o.fingerprint, location: o.location, ...(o.key ? { scope: o.key.scope, layer: o.key.layer, path: o.key.path } : {}) };
}

function printList(format: Format, keys: TrustedKeyInfo[]): void {
  if (printJson(format, keys)) return;
  const rows = [['FINGERPRINT', 'SCOPE', 'LAYER', 'USER IDS'], ...keys.map((k) => [k.fingerprint, 'root' in k.scope ? 'root' : k.scope.prefix, k.layer, k.userIds.join(', ')])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(rows.map((r) => `${r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ')}\n`).join(''));
}

function printRemoved(format: Format, result: UntrustOutcome, scope: TrustScope | undefined): void {
  if (printJson(format, result)) return;
  for (const path of result.removed) process.stdout.write(`Removed ${path}\n`);
  for (const path of result.masked) process.stdout.write(`Masked the system key with an empty ${path}\n`);
  if (result.removed.length + result.masked.length === 0) {
    process.stdout.write(`Key ${result.fingerprint} was not trusted${scope ? ` for ${describeScope(scope)}` : ''}; nothing to remove\n`);
  }
}
