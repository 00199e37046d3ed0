import { FieldError, quote } from './manifest-error.ts';

// The Image ID Type as the reference parses it: "sha512-" and a non-empty value with no
// further "-". The value is not checked for hex or length, so short IDs and the spec's
// own "sha512-..." placeholder are valid here; the store resolves them later.
export function assertImageIDString(s: string, path: string): string {
  if (!/^sha512-[^-]+$/.test(s)) throw new FieldError(path, `${quote(s)} must be an image ID: sha512- followed by the hash`);
  return s;
}
