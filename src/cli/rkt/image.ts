import type { CommandModule } from 'yargs';
import { imageCatManifestCommand } from './image/cat-manifest.ts';
import { imageExportBundleCommand, imageImportBundleCommand } from './image/bundle.ts';
import { imageExportCommand } from './image/export.ts';
import { imageExtractCommand, imageRenderCommand } from './image/extract.ts';
import { imageGcCommand } from './image/gc.ts';
import { imageListCommand } from './image/list.ts';
import { imageRmCommand } from './image/rm.ts';
import { imageVerifyCommand } from './image/verify.ts';
import type { GlobalArgs } from './global.ts';

// `rkt image ...`: the local image store. None of these fetch: an image named here
// must already be stored (rkt fetch).
export const imageCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'image <command>',
  describe: 'Work with the local image store: list, rm, cat-manifest, export, export-bundle, import-bundle, extract, render, gc, verify',
  builder: (y) =>
    y
      .command(imageListCommand)
      .command(imageRmCommand)
      .command(imageCatManifestCommand)
      .command(imageExportCommand)
      .command(imageExportBundleCommand)
      .command(imageImportBundleCommand)
      .command(imageExtractCommand)
      .command(imageRenderCommand)
      .command(imageGcCommand)
      .command(imageVerifyCommand)
      .demandCommand(1, 'name an image command')
      .example('$0 image list --format json', 'the stored images, for a script')
      .epilogue(
        'An IMAGE argument is an image ID or a unique prefix of one (sha512-5f0b6c2d...), or a name with optional ' +
          'version and labels (example.com/hello:1.0,arch=armv7l), which picks the newest stored image that matches.',
      ),
  handler: () => {},
};
