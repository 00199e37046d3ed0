import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';
import { UserError, describeError } from '../util/errors.ts';

/**
 * Calls `visit` on each member of the tar in `source`, in order, with its body as a
 * Node stream; a body the visitor leaves unread is skipped. A visitor's error stops
 * the walk and is what the caller sees. `label` starts the message of a broken tar.
 */
export async function walkTar(source: Readable, label: string, visit: (header: Header, body: Readable) => Promise<void>): Promise<void> {
  const tar = extract();
  let failure: unknown;
  // The pipeline reports every failure, but streamx then emits it again on the
  // extractor and on the open entry (as in appc/aci-reader.ts).
  tar.on('error', () => {});
  tar.on('entry', (header, stream, next) => {
    stream.on('error', () => {});
    // tar-stream's entry streams are streamx; visitors get a Node stream.
    const body = new PassThrough();
    stream.pipe(body);
    visit(header, body).then(
      () => {
        body.resume();
        next();
      },
      (err: unknown) => {
        failure ??= err;
        next(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
  try {
    await pipeline(source, tar);
  } catch (err) {
    source.destroy();
    if (failure !== undefined) throw failure;
    if (err instanceof UserError || (err as NodeJS.ErrnoException).syscall) throw err;
    throw new UserError(`${label}: ${describeError(err)}`, undefined, { cause: err });
  }
}
