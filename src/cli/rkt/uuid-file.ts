import { readFile } from 'node:fs/promises';
import { ExitCode, UserError } from '../../util/errors.ts';

/** The pod UUIDs a --uuid-file holds (what `rkt run --uuid-file-save` wrote), whitespace-separated. */
export async function uuidsFromFile(path: string): Promise<string[]> {
  const words = (await readFile(path, 'utf8')).split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) throw new UserError(`--uuid-file: ${path} holds no pod UUID`, ExitCode.usage);
  return words;
}
