import { readFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import type { HttpGetOptions } from '../fetch/http-get.ts';
import { ExitCode, UserError } from '../util/errors.ts';

// The options of every command that talks to image or key servers.

export interface NetworkArgs {
  'ca-file'?: string;
  resolve?: string | string[];
}

export function withNetworkOptions<T>(y: Argv<T>): Argv<T & NetworkArgs> {
  return (
    y
      .option('ca-file', { type: 'string', describe: 'PEM file of CA certificates to trust, on top of the usual ones, for private HTTPS servers' })
      // For tests and staging servers (docs/rkt-fetch.md); hidden to keep --help short.
      .option('resolve', { type: 'string', hidden: true, describe: 'like curl --resolve: HOST[:PORT]=ADDRESS:PORT (repeatable)' })
  ) as Argv<T & NetworkArgs>;
}

/** The http client's `ca` and `resolve` from the parsed options. */
export async function networkFrom(args: NetworkArgs): Promise<Pick<HttpGetOptions, 'ca' | 'resolve'>> {
  const ca = args['ca-file'] === undefined ? undefined : await readCaFile(args['ca-file']);
  return { ...(ca ? { ca } : {}), resolve: parseResolve(args.resolve) };
}

/** The `--resolve HOST[:PORT]=ADDRESS:PORT` values (repeatable), as the http client's `resolve` map. */
export function parseResolve(values: string | string[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const value of [values ?? []].flat()) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new UserError(`--resolve "${value}" must be HOST[:PORT]=ADDRESS:PORT`, ExitCode.usage);
    map[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return map;
}

async function readCaFile(path: string): Promise<Buffer> {
  const pem = await readFile(path).catch((err: unknown) => {
    throw new UserError(`--ca-file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err)}`, ExitCode.usage);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`--ca-file ${path}: no PEM certificate in it`, ExitCode.usage);
  return pem;
}
