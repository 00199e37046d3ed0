import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';
import { UserError, describeError } from '../util/errors.ts';

/**
 * Calls `visit` on each member of the tar in `source` (after `stages`, such as a
 * hasher), in order; `body()` gives the member's content as a Node stream, made only
 * when asked for (most members of a big image are only checked, and a stream per
 * member costs ~12% of the read). A body the visitor leaves unread is skipped. A visitor's error stops the walk and is what the caller sees; a broken
 * tar becomes a one-line UserError starting with `label`, system errors stay as they are.
 */
export async function walkTar(
  source: Readable,
  label: string,
  visit: (header: Header, body: () => Readable) => Promise<void>,
  stages: Duplex[] = [],
): Promise<void> {
  const tar = extract();
  let failure: unknown;
  // The pipeline reports every failure, but it destroys each stage with it, and
  // streamx then emits the error again on the extractor and on the open entry.
  tar.on('error', () => {});
  tar.on('entry', (header, stream, next) => {
    stream.on('error', () => {});
    // tar-stream's entry streams are streamx; visitors get a Node stream.
    let piped: PassThrough | undefined;
    const body = (): Readable => (piped ??= stream.pipe(new PassThrough()));
    visit(header, body).then(
      () => {
        (piped ?? stream).resume();
        next();
      },
      (err: unknown) => {
        failure ??= err;
        next(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
  try {
    await pipeline([source, ...stages, tar]);
  } catch (err) {
    source.destroy();
    if (failure !== undefined) throw failure;
    if (err instanceof UserError || (err as NodeJS.ErrnoException).syscall) throw err;
    throw new UserError(`${label}: ${describeError(err)}`, undefined, { cause: err });
  }
}
