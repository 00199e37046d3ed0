import type { CommandModule } from 'yargs';
import { patchFromFlags, type PatchFlags } from '../../build/manifest-patch.ts';
import { patchAci } from '../../build/patch-aci.ts';
import { ExitCode, UserError } from '../../util/errors.ts';

// List flags are plain strings, not yargs arrays: an array flag would swallow the
// INPUT and OUTPUT positionals after it. Repeating a flag still gives several values.
type Repeatable = string | string[] | undefined;

interface Args extends Omit<PatchFlags, 'capability' | 'mounts' | 'ports' | 'isolators'> {
  capability?: Repeatable;
  mounts?: Repeatable;
  ports?: Repeatable;
  isolators?: Repeatable;
  input: string;
  output?: string;
  manifest?: string;
  replace: boolean;
  overwrite: boolean;
  compression: boolean;
}

export const patchManifestCommand: CommandModule<object, Args> = {
  command: 'patch-manifest <input> [output]',
  describe: "Change an image's manifest, writing a new image (or replacing it with --replace)",
  builder: (y) =>
    y
      .positional('input', { type: 'string', demandOption: true, describe: 'the .aci to read' })
      .positional('output', { type: 'string', describe: 'the .aci to write (not with --replace)' })
      .option('manifest', { type: 'string', describe: 'take the whole manifest from this file' })
      .option('name', { type: 'string', describe: 'image name' })
      .option('exec', { type: 'string', describe: 'command line, split on spaces: "/bin/app --debug"' })
      .option('user', { type: 'string', describe: 'user to run the app as (name or uid)' })
      .option('group', { type: 'string', describe: 'group to run the app as (name or gid)' })
      .option('supplementary-groups', { type: 'string', describe: 'comma-separated gids: 10,20' })
      .option('capability', { type: 'string', describe: 'capabilities to retain: CAP_NET_BIND_SERVICE,CAP_CHOWN' })
      .option('mounts', { type: 'string', describe: 'mount points: NAME,path=/p[,readOnly=true][:NAME2,...]' })
      .option('ports', { type: 'string', describe: 'ports: NAME,protocol=tcp,port=N[,count=N][,socketActivated=true][:...]' })
      .option('isolators', {
        type: 'string',
        describe: 'isolators: NAME,key=value[,...][:...] or NAME=JSON, e.g. resource/memory,limit=64M',
      })
      .option('replace', { type: 'boolean', default: false, describe: 'replace INPUT in place (atomically)' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace OUTPUT if it exists' })
      .option('compression', { type: 'boolean', default: true, describe: 'gzip the result (--no-compression: plain tar)' })
      .example(
        '$0 patch-manifest --exec "/bin/httpd -f -p 8080" --ports http,protocol=tcp,port=8080 in.aci out.aci',
        'set the command and declare a port',
      )
      .example('$0 patch-manifest --manifest manifest.json --replace app.aci', 'swap in a whole new manifest'),
  handler: async (args) => {
    const output = args.replace ? args.input : args.output;
    if (!output) throw new UserError('patch-manifest: name an OUTPUT file or pass --replace', ExitCode.usage);
    if (args.replace && args.output) throw new UserError('patch-manifest: give OUTPUT or --replace, not both', ExitCode.usage);
    const { imageId } = await patchAci(args.input, output, {
      manifestFile: args.manifest,
      patch: patchFromFlags({
        ...args,
        capability: asList(args.capability),
        mounts: asList(args.mounts),
        ports: asList(args.ports),
        isolators: asList(args.isolators),
      }),
      overwrite: args.overwrite || args.replace,
      compress: args.compression,
    });
    process.stdout.write(`${imageId}\n`);
  },
};

function asList(value: Repeatable): string[] | undefined {
  return value === undefined ? undefined : [value].flat();
}
