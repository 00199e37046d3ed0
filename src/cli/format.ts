import type { Argv } from 'yargs';

export const FORMATS = ['text', 'json', 'json-pretty'] as const;
export type Format = (typeof FORMATS)[number];

/** The `--format` option every listing command has. */
export function withFormat<T>(y: Argv<T>): Argv<T & { format: Format }> {
  return y.option('format', {
    choices: FORMATS,
    default: 'text' as Format,
    describe: 'output format: text for people, json for scripts',
  });
}

/** Prints one JSON document for `json` / `json-pretty`; returns false for text. */
export function printJson(format: Format, value: unknown): boolean {
  if (format === 'text') return false;
  process.stdout.write(`${JSON.stringify(value, null, format === 'json-pretty' ? 2 : undefined)}\n`);
  return true;
}
