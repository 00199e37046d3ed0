import { UserError } from '../util/errors.ts';

// Resource quantities as spec/ace.md and Kubernetes write them: a decimal number with
// an optional suffix. "K" is accepted besides Kubernetes' "k" because the spec names it.
const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|m|k|K|M|G|T|P|E)?$/;

const DECIMAL_EXPONENT: Record<string, number> = { m: -3, k: 3, K: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_EXPONENT: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/**
 * The value of a quantity in base units: "500m" is 0.5, "1G" is 1e9, "128Mi" is 134217728.
 * Computed from the digits as an integer and one scaling step, so "1.1G" is exactly 1.1e9.
 */
export function parseQuantity(s: string): number {
  const m = QUANTITY.exec(s);
  const whole = m?.[2] ?? '';
  const fraction = m?.[3] ?? '';
  if (!m || whole + fraction === '') throw new UserError(`invalid quantity ${JSON.stringify(s)}: expected a number with an optional suffix like m, k, M, G, Ki, Mi or Gi`);
  const sign = m[1] === '-' ? -1 : 1;
  const digits = Number(whole + fraction);
  const suffix = m[4] ?? '';
  const binary = BINARY_EXPONENT[suffix];
  if (binary !== undefined) return (sign * digits * 2 ** binary) / 10 ** fraction.length;
  const exponent = (/^[eE]./.test(suffix) ? Number(suffix.slice(1)) : (DECIMAL_EXPONENT[suffix] ?? 0)) - fraction.length;
  return exponent >= 0 ? sign * digits * 10 ** exponent : (sign * digits) / 10 ** -exponent;
}
