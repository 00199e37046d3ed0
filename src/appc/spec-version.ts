import { requireString, type JsonObject } from './json-read.ts';
import { FieldError, quote } from './manifest-error.ts';

/** The appc spec version this code follows (../shared/appc-spec/VERSION, without "+git"). */
export const APPC_VERSION = '0.8.11';

// SemVer 2.0.0 as go-semver reads it: three numbers, optional pre-release and build.
const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

/** An AC Version: SemVer, and not 0.0.0 (the reference treats the zero version as unset). */
export function isACVersion(s: string): boolean {
  return SEMVER.test(s) && !/^0+\.0+\.0+$/.test(s);
}

export function readACVersion(obj: JsonObject): string {
  const version = requireString(obj, 'acVersion', '');
  if (!isACVersion(version)) throw new FieldError('acVersion', `${quote(version)} must be a semantic version like 0.8.11`);
  return version;
}
