import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/**
 * A pass-through that hashes what flows through it, so a digest comes for free while
 * the bytes are written or read. `hex()` is the digest once the stream has ended and
 * undefined before (a digest of part of the bytes would look right and be wrong).
 * `atEnd`, given the digest, may fail the stream, so a pipeline stops on a bad one.
 */
export function hashingStream(algorithm: string, atEnd?: (hex: string) => Error | null): { stream: Transform; hex(): string | undefined } {
  const hash = createHash(algorithm);
  let hex: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      hex = hash.digest('hex');
      callback(atEnd?.(hex) ?? null);
    },
  });
  return { stream, hex: () => hex };
}
