import { open, readFile, stat } from 'node:fs/promises';
import { readAciFile } from '../appc/aci-reader.ts';
import { sniffCompression } from '../appc/compression.ts';
import { parseImageManifest } from '../appc/image-manifest.ts';
import { validateLayout } from '../appc/layout.ts';
import { parsePodManifest } from '../appc/pod-manifest.ts';
import { UserError } from '../util/errors.ts';

export const VALIDATION_TYPES = ['appimage', 'layout', 'manifest'] as const;
export type ValidationType = (typeof VALIDATION_TYPES)[number];

export interface ValidationResult {
  file: string;
  type: ValidationType;
  /** What was found valid: "image manifest", "pod manifest", "image layout" or "image". */
  kind: string;
  imageId?: string;
}

/** Validates one file, guessing its type when none is given: a directory is a layout,
 * a tar (compressed or not) is an image, anything else a manifest. */
export async function validateFile(file: string, type?: ValidationType): Promise<ValidationResult> {
  const actual = type ?? (await guessType(file));
  switch (actual) {
    case 'layout':
      await validateLayout(file);
      return { file, type: actual, kind: 'image layout' };
    case 'appimage': {
      const { imageId } = await readAciFile(file);
      return { file, type: actual, kind: 'image', imageId };
    }
    case 'manifest':
      return { file, type: actual, kind: validateManifestText(await readFile(file)) };
  }
}

function validateManifestText(bytes: Buffer): string {
  // Pod and image manifests share the acKind field; dispatch on it so that one
  // command checks both, as the reference actool does.
  let kind: unknown;
  try {
    kind = (JSON.parse(bytes.toString('utf8')) as { acKind?: unknown })?.acKind;
  } catch {
    kind = undefined;
  }
  if (kind === 'PodManifest') {
    parsePodManifest(bytes);
    return 'pod manifest';
  }
  parseImageManifest(bytes);
  return 'image manifest';
}

async function guessType(file: string): Promise<ValidationType> {
  const info = await stat(file);
  if (info.isDirectory()) return 'layout';
  if (!info.isFile()) throw new UserError(`${file} is neither a file nor a directory`);
  const head = Buffer.alloc(512);
  const handle = await open(file, 'r');
  try {
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    return sniffCompression(bytes) !== 'none' || isTarHeader(bytes) ? 'appimage' : 'manifest';
  } finally {
    await handle.close();
  }
}

function isTarHeader(block: Buffer): boolean {
  return block.length >= 262 && block.toString('latin1', 257, 262) === 'ustar';
}
