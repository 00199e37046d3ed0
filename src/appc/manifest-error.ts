import { ExitCode, UserError } from '../util/errors.ts';

/** A manifest that breaks a rule of the spec: one line, naming the field and the rule. */
export class ManifestError extends UserError {
  override name = 'ManifestError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.invalid, options);
  }
}

/**
 * Thrown by the shared field readers, which do not know whether they read an image or
 * a pod manifest; the top-level validator turns it into a ManifestError with its prefix.
 */
export class FieldError extends Error {
  override name = 'FieldError';
  constructor(
    readonly path: string,
    readonly rule: string,
  ) {
    super(path ? `${path} ${rule}` : rule);
  }
}

/** Run a validator and give its FieldError the manifest's prefix ("manifest", "pod manifest"). */
export function withManifestPrefix<T>(prefix: string, validate: () => T): T {
  try {
    return validate();
  } catch (err) {
    if (err instanceof FieldError) throw new ManifestError(`${prefix}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** A value shown in a message: JSON-quoted so it stays on one line, and cut when long. */
export function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
