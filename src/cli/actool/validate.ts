import type { CommandModule } from 'yargs';
import { validateFile, VALIDATION_TYPES, type ValidationResult, type ValidationType } from '../../build/validate.ts';
import { describeError, ExitCode } from '../../util/errors.ts';
import { printJson, withFormat, type Format } from '../format.ts';

interface Args {
  files: string[];
  type?: ValidationType;
  format: Format;
}

export const validateCommand: CommandModule<object, Args> = {
  command: 'validate <files..>',
  describe: 'Check images, image layouts and manifests against the appc spec',
  builder: (y) =>
    withFormat(
      y
        .positional('files', { type: 'string', array: true, demandOption: true, describe: 'files or layout directories' })
        .option('type', {
          choices: VALIDATION_TYPES,
          describe: 'what the files are (default: a directory is a layout, a tar an image, else a manifest)',
        })
        .example('$0 validate hello.aci', 'check an image: layout, manifest and every path')
        .example('$0 validate --type=manifest manifest.json', 'check an image or pod manifest')
        .epilogue('Exit status 0 when every file is valid, 1 when any is not; each problem is one line on stderr.'),
    ),
  handler: async (args) => {
    const results: (ValidationResult | { file: string; error: string })[] = [];
    for (const file of args.files) {
      try {
        results.push(await validateFile(file, args.type));
      } catch (err) {
        results.push({ file, error: describeError(err) });
      }
    }
    const failed = results.filter((r) => 'error' in r);
    if (failed.length > 0) process.exitCode = ExitCode.invalid;
    if (printJson(args.format, results.map((r) => ({ ...r, valid: !('error' in r) })))) return;
    for (const r of results) {
      if ('error' in r) process.stderr.write(`${r.file}: ${r.error}\n`);
      else process.stdout.write(`${r.file}: valid ${r.kind}${r.imageId ? ` ${r.imageId}` : ''}\n`);
    }
  },
};
