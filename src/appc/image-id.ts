import { createHash } from 'node:crypto';
import type { Transform } from 'node:stream';
import { hashingStream } from '../util/hashing-stream.ts';

// An image ID is the SHA-512 of the uncompressed tar (appc types.md, "Image ID Type").

export const IMAGE_ID_PREFIX = 'sha512-';

const IMAGE_ID_RE = /^sha512-[0-9a-f]{128}$/;

/** Whether `s` is a complete image ID (not an abbreviated prefix). */
export function isImageId(s: string): boolean {
  return IMAGE_ID_RE.test(s);
}

/** Hex digits of an ID shown where a full one would be too long, as rkt shows them. */
export const SHORT_ID_HEX = 32;

/** `sha512-` and the first SHORT_ID_HEX hex digits: how rkt prints IDs unless asked for all. */
export function shortId(id: string): string {
  return id.slice(0, IMAGE_ID_PREFIX.length + SHORT_ID_HEX);
}

export function imageIdOfBuffer(buf: Uint8Array): string {
  return IMAGE_ID_PREFIX + createHash('sha512').update(buf).digest('hex');
}

/**
 * A pass-through stream that hashes what flows through it, so the ID of an
 * image comes for free while the tar is written or read.
 */
export function imageIdHasher(): { stream: Transform; imageId(): string } {
  const { stream, hex } = hashingStream('sha512');
  return {
    stream,
    imageId() {
      const digest = hex();
      if (digest === undefined) throw new Error('image ID asked for before the tar ended');
      return IMAGE_ID_PREFIX + digest;
    },
  };
}
