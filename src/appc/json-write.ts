// Manifests are written with the canonical key spellings in the reference's field order,
// leaving out what Go's `omitempty` leaves out, so the same manifest always gives the same
// bytes (and so the same image ID).

/** `fields` in their order, without undefined values, empty lists and empty maps. */
export function dropEmpty(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => !isEmpty(v)));
}

function isEmpty(v: unknown): boolean {
  if (v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype && Object.keys(v).length === 0;
}

export function stringify(value: unknown, pretty: boolean | undefined): string {
  return pretty ? `${JSON.stringify(value, null, 2)}\n` : JSON.stringify(value);
}
