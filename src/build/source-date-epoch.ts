import { UserError } from '../util/errors.ts';

/** SOURCE_DATE_EPOCH as the reproducible-builds convention defines it: whole seconds. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new UserError(`SOURCE_DATE_EPOCH "${raw}" must be a whole number of seconds since 1970`);
  return Number(raw);
}
