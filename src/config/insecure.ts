import { ExitCode, UserError } from '../util/errors.ts';

// --insecure-options, as rkt names them. Each value switches one check off; the
// aggregates expand to their members. Every skipped check is announced on stderr by
// the code that skips it (see warnInsecure), so a script's log always shows it.

export const INSECURE_CHECKS = ['image', 'tls', 'http', 'pubkey', 'capabilities', 'paths', 'seccomp'] as const;
export type InsecureCheck = (typeof INSECURE_CHECKS)[number];

const AGGREGATES: Record<string, readonly InsecureCheck[]> = {
  none: [],
  'all-fetch': ['image', 'tls', 'http', 'pubkey'],
  'all-run': ['capabilities', 'paths', 'seccomp'],
  all: INSECURE_CHECKS,
};

const MEANING: Record<InsecureCheck, string> = {
  image: 'image signatures are not verified',
  tls: 'TLS certificates are not verified',
  http: 'plain HTTP is allowed',
  pubkey: 'public keys are fetched without verification',
  capabilities: 'apps keep all capabilities',
  paths: 'sensitive /proc and /sys paths are not masked',
  seccomp: 'no seccomp filter is applied',
};

/** Parses "image,tls" (comma-separated, repeatable) into the checks to skip. */
export function parseInsecureOptions(values: string | string[] | undefined): ReadonlySet<InsecureCheck> {
  const out = new Set<InsecureCheck>();
  for (const value of [values ?? []].flat().flatMap((v) => v.split(','))) {
    const name = value.trim();
    if (name === '') continue;
    const expanded = AGGREGATES[name] ?? ((INSECURE_CHECKS as readonly string[]).includes(name) ? [name as InsecureCheck] : undefined);
    if (!expanded) {
      const valid = [...Object.keys(AGGREGATES), ...INSECURE_CHECKS].join(', ');
      throw new UserError(`--insecure-options: unknown value "${name}"; valid values: ${valid}`, ExitCode.usage);
    }
    for (const check of expanded) out.add(check);
  }
  return out;
}

/** The one-line warning printed whenever a check is skipped. */
export function insecureWarning(check: InsecureCheck): string {
  return `warning: --insecure-options=${check}: ${MEANING[check]}`;
}
