import { FieldError, quote } from './manifest-error.ts';

// spec/types.md: an AC Identifier names images, labels and isolators; an AC Name
// names apps, volumes, mount points and ports (no "." "_" "~" "/"). As in the reference,
// only the characters and the two ends are checked, so separators may follow each other
// (the spec's own example "example.com/~user/app_v1" needs that).
const AC_IDENTIFIER = /^[a-z0-9]([a-z0-9._~/-]*[a-z0-9])?$/;
const AC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function isACIdentifier(s: string): boolean {
  return AC_IDENTIFIER.test(s);
}

export function isACName(s: string): boolean {
  return AC_NAME.test(s);
}

export function assertACIdentifier(s: string, path: string): string {
  if (!isACIdentifier(s)) {
    throw new FieldError(path, `${quote(s)} must be an AC Identifier (lowercase letters, digits and -._~/ between them)`);
  }
  return s;
}

export function assertACName(s: string, path: string): string {
  if (!isACName(s)) throw new FieldError(path, `${quote(s)} must be an AC Name (lowercase letters, digits and - between them)`);
  return s;
}
