import { ExitCode, UserError } from '../util/errors.ts';

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
