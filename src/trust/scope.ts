import { isACIdentifier } from '../appc/names.ts';
import { ExitCode, UserError } from '../util/errors.ts';

/** Where a key is trusted: for every image (root.d) or for the names under a prefix (prefix.d). */
export type TrustScope = { root: true } | { prefix: string };

export const ROOT: TrustScope = { root: true };

/**
 * Checks a prefix before it becomes directories under prefix.d. An AC Identifier may
 * hold "." and "/" anywhere inside it, so "example.com/../../etc" passes that check:
 * each path segment is checked too, or a prefix could write keys outside the keystore.
 */
export function checkPrefix(prefix: string, what = 'prefix'): string {
  const bad = prefix.split('/').find((seg) => seg === '' || seg === '.' || seg === '..');
  if (!isACIdentifier(prefix) || bad !== undefined) {
    throw new UserError(
      `${what} "${prefix}" is not an image name prefix (lowercase letters, digits and -._~ separated by single "/", as example.com/app)`,
      ExitCode.usage,
    );
  }
  return prefix;
}

/** The scopes whose keys apply to `name`: root, then each parent path, then the name itself. */
export function scopesFor(name: string): TrustScope[] {
  const parts = checkPrefix(name, 'image name').split('/');
  return [ROOT, ...parts.map((_, i) => ({ prefix: parts.slice(0, i + 1).join('/') }))];
}

/** Whether a key trusted (or masked) at `outer` reaches every name that `inner` does. */
export function covers(outer: TrustScope, inner: TrustScope): boolean {
  if ('root' in outer) return true;
  if ('root' in inner) return false;
  return inner.prefix === outer.prefix || inner.prefix.startsWith(`${outer.prefix}/`);
}

export function sameScope(a: TrustScope, b: TrustScope): boolean {
  return covers(a, b) && covers(b, a);
}

/** "all images" or "prefix example.com/app", for messages. */
export function describeScope(scope: TrustScope): string {
  return 'root' in scope ? 'all images (root)' : `prefix ${scope.prefix}`;
}
