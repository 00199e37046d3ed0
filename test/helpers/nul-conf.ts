import assert from 'node:assert/strict';

// stage1.conf and stage0-plan.conf are NUL-terminated strings, key then value, which
// the C side (native/conf.c, native/plan.c) reads in order; tests compare them as pairs.

/** The file as key/value pairs, split at NULs as the init reads it. */
export function confPairs(buf: Buffer): string[][] {
  const text = buf.toString('utf8');
  assert.ok(text.endsWith('\0'), 'every string is NUL-terminated');
  const strings = text.slice(0, -1).split('\0');
  assert.equal(strings.length % 2, 0);
  const out: string[][] = [];
  for (let i = 0; i < strings.length; i += 2) out.push([strings[i]!, strings[i + 1]!]);
  return out;
}
