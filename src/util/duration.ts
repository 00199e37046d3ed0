import { ExitCode, UserError } from './errors.ts';

// Durations as rkt (Go's time.ParseDuration) writes them: "24h", "1h30m", "0s", "500ms",
// "24h0m0s". A bare number other than 0 is refused: "24" could mean hours or seconds.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in `text`; throws a usage error naming `flag` when it is not a duration. */
export function parseDuration(text: string, flag: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) break;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = re.lastIndex;
  }
  if (s === '' || at !== s.length) {
    throw new UserError(`${flag}: "${text}" is not a duration (write e.g. 24h, 1h30m, 30m, 0s)`, ExitCode.usage);
  }
  return Math.round(total);
}
