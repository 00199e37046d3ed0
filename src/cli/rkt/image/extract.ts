import type { CommandModule } from 'yargs';
import { extractImage } from '../../../image/extract.ts';
import { contextFrom, type GlobalArgs } from '../global.ts';

interface Args extends GlobalArgs {
  image: string;
  output: string;
  'rootfs-only': boolean;
  overwrite: boolean;
}

function extractLike(name: 'extract' | 'render'): CommandModule<GlobalArgs, Args> {
  const render = name === 'render';
  return {
    command: `${name} <image> <output>`,
    describe: render
      ? 'Write a stored image with its dependencies to a directory, as a pod would see it'
      : 'Write a stored image (without its dependencies) to a directory',
    builder: (y) =>
      y
        .positional('image', { type: 'string', demandOption: true, describe: 'image ID (or unique prefix) or name[:version][,label=value...]' })
        .positional('output', { type: 'string', demandOption: true, describe: 'the directory to write (not --dir: that is the store)' })
        .option('rootfs-only', { type: 'boolean', default: false, describe: "write the rootfs' contents at OUTPUT, without the manifest" })
        .option('overwrite', { type: 'boolean', default: false, describe: 'replace OUTPUT if it exists' })
        .example(
          render ? '$0 image render --rootfs-only example.com/hello:1.0 /tmp/hello' : '$0 image extract example.com/hello:1.0 /tmp/hello',
          render ? 'the root filesystem the app would run in' : '/tmp/hello/manifest and /tmp/hello/rootfs/ of the image alone',
        )
        .epilogue(
          (render
            ? 'Dependencies are laid beneath the image in render order, each filtered by the pathWhitelists above it. '
            : 'Dependencies are left out: use render for the full root filesystem. ') +
            'OUTPUT is written under a temporary name and renamed when complete, so it is removed with a plain rm -rf and never ' +
            'holds half an image. Without root, files keep your own owner and device nodes are skipped.',
        ),
    handler: async (args) => {
      await extractImage(contextFrom(args), args.image, args.output, {
        rootfsOnly: args['rootfs-only'],
        overwrite: args.overwrite,
        withDependencies: render,
      });
    },
  };
}

export const imageExtractCommand = extractLike('extract');
export const imageRenderCommand = extractLike('render');
