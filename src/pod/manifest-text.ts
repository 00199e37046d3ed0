import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePodManifest, serializePodManifest } from '../appc/pod-manifest.ts';
import { UserError } from '../util/errors.ts';
import { POD_FILES } from './layout.ts';
import { getPod } from './lookup.ts';

/** `rkt cat-manifest`: the pod's manifest as JSON text, ending in a newline. */
export async function podManifestText(dir: string, uuidOrPrefix: string, opts: { pretty: boolean }): Promise<string> {
  const pod = await getPod(dir, uuidOrPrefix);
  let text: string;
  try {
    text = await readFile(join(pod.path, POD_FILES.manifest), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new UserError(`pod ${pod.uuid} has no manifest (it is ${pod.state})`);
  }
  const out = serializePodManifest(parsePodManifest(text), { pretty: opts.pretty });
  return out.endsWith('\n') ? out : `${out}\n`;
}
