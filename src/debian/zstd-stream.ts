import { Readable } from 'node:stream';
import { Decompress } from 'fzstd';
import { UserError, describeError } from '../util/errors.ts';

// zstd lives here, not in appc/compression.ts: Debian packages use it (dpkg-deb
// -Zzstd, Ubuntu's default since 21.10), but the ACI spec does not allow it.
//
// fzstd decodes each chunk it is given at once, whatever it expands to: a raw-RLE
// block of 4 bytes yields 128 KiB, so 64 KiB of hostile input could yield 2 GiB. Fed
// SLICE bytes at a time, with the output pulled by the reader before the next slice,
// memory stays within 32 MiB.
const SLICE = 1024;

/** `source`, zstd-decompressed (one frame or several). */
export function unzstd(source: Readable): Readable {
  async function* decode(): AsyncGenerator<Buffer> {
    const out: Buffer[] = [];
    // fzstd may hand out views of its window buffer, which it reuses: copy them.
    const decoder = new Decompress((data) => {
      if (data.length > 0) out.push(Buffer.from(data));
    });
    const push = (data: Uint8Array, final: boolean) => {
      try {
        decoder.push(data, final);
      } catch (err) {
        throw new UserError(`invalid zstd data: ${describeError(err)}`, undefined, { cause: err });
      }
    };
    for await (const chunk of source as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i += SLICE) {
        push(chunk.subarray(i, i + SLICE), false);
        yield* out.splice(0);
      }
    }
    push(new Uint8Array(0), true);
    yield* out.splice(0);
  }
  return Readable.from(decode(), { objectMode: false });
}
