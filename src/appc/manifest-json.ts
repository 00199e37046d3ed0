import { ManifestError } from './manifest-error.ts';

/** JSON.parse for manifest files, failing as a one-line ManifestError with the prefix. */
export function parseManifestJson(prefix: string, text: string | Uint8Array): unknown {
  const source = typeof text === 'string' ? text : new TextDecoder().decode(text);
  try {
    return JSON.parse(source);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ManifestError(`${prefix}: invalid JSON: ${reason}`, { cause: err });
  }
}
