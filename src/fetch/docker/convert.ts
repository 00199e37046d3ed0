import { closeSync, openSync, readSync, write } from 'node:fs';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { AciEntry } from '../../appc/aci-entry.ts';
import { entryFromHeader, entryTypeOf } from '../../appc/aci-reader.ts';
import { tarStream, type TarMember } from '../../appc/tar-writer.ts';
import { walkTar } from '../../appc/tar-walk.ts';
import type { ImageManifest } from '../../appc/types.ts';
import { unzstd } from '../../debian/zstd-stream.ts';
import { UserError, describeError } from '../../util/errors.ts';
import { hashingStream } from '../../util/hashing-stream.ts';
import { manifestBytes, type UserFiles } from './image-config.ts';
import { algorithmOf, sniffLayer } from './media.ts';
import { SquashTree } from './squash.ts';

const writeAsync = promisify(write);

// Layers -> one ACI (squashed): each layer (gzip, zstd or plain tar) is read once, in
// order, and applied to a SquashTree (whiteouts, replacements, symlinked parents); file
// bodies go to one append-only spool file in the fetch's temporary directory, read back
// by offset when the ACI's tar is written (tar-writer.ts, sorted, so the same layers
// always make the same bytes and so the same image ID). Only the tree of entries is in
// memory. The caller stores the returned tar stream and then closes the spool.

export interface LayerInput {
  /** "layer 2/3 (sha256:ab12cd34ef56)": starts every message about this layer. */
  label: string;
  open(): Promise<Readable>;
  /** A digest to check the bytes against as they are read: of the blob as opened, or of the uncompressed tar (a diff ID). */
  verify?: { digest: string; of: 'blob' | 'tar' };
}

export interface ConvertInput {
  layers: LayerInput[];
  /** A new file for the spool (in the store's tmp/, so on its filesystem). */
  spool: string;
  /** The mtime of the rootfs, the manifest and parent directories no layer names. */
  time: number;
  /** The image manifest, made once the tree is known (a user's group comes from its /etc/passwd). */
  manifest(files: UserFiles): ImageManifest;
}

export interface Converted {
  manifest: ImageManifest;
  /** The uncompressed ACI. */
  tar: Readable;
  /** Entries in the rootfs. */
  entries: number;
  /** Closes the spool; call once the tar is consumed (or abandoned). */
  close(): void;
}

const PASSWD_LIMIT = 1 << 20;
const SPOOL_BUFFER = 1 << 20;

export async function convertLayers(input: ConvertInput): Promise<Converted> {
  const tree = new SquashTree(input.time);
  const spool = new Spool(input.spool);
  try {
    for (const layer of input.layers) await applyLayer(tree, spool, layer);
    await spool.flush();
    const files: UserFiles = {};
    const passwd = readSmall(spool, tree.file('etc/passwd'));
    if (passwd !== undefined) files.passwd = passwd;
    const manifest = input.manifest(files);
    const bytes = manifestBytes(manifest);
    const dir: AciEntry = { path: 'rootfs', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: input.time, size: 0 };
    const members: TarMember[] = [{ entry: { ...dir, path: 'manifest', type: 'file', mode: 0o644, size: bytes.length }, content: bytes }, ...tree.members(dir)];
    return { manifest, tar: tarStream(async () => members), entries: tree.size, close: () => spool.close() };
  } catch (err) {
    spool.close();
    throw err;
  }
}

async function applyLayer(tree: SquashTree, spool: Spool, layer: LayerInput): Promise<void> {
  tree.startLayer(layer.label);
  const blob = await layer.open();
  const check = layer.verify;
  const blobHash = check?.of === 'blob' ? digestStage(check.digest, layer.label, 'blob') : undefined;
  const plain = await decompress(blobHash ? blob.pipe(blobHash.stream) : blob, layer.label);
  if (blobHash) blob.on('error', (err) => blobHash.stream.destroy(err));
  const tarHash = check?.of === 'tar' ? digestStage(check.digest, layer.label, 'uncompressed tar') : undefined;
  await walkTar(
    plain,
    layer.label,
    async (header, body) => {
      const type = entryTypeOf(header, layer.label);
      const entry = entryFromHeader(header.name, type, header);
      if (type === 'file' && entry.size > 0) {
        const position = await spool.append(body(), entry.size, `${layer.label}: "${header.name}"`);
        tree.apply(entry, { span: { fd: spool.fd, position } });
      } else {
        tree.apply(entry, type === 'file' ? { content: Buffer.alloc(0) } : undefined);
      }
    },
    tarHash ? [tarHash.stream] : [],
  );
  // The tar's end may come before the blob's: what follows still counts toward its digest.
  await drain(plain);
  blobHash?.check();
  tarHash?.check();
}

/** A pass-through that hashes; `check()` after the end says whether the bytes were `digest`. */
function digestStage(digest: string, label: string, what: string): { stream: Transform; check(): void } {
  const algorithm = algorithmOf(digest);
  const { stream, hex } = hashingStream(algorithm);
  return {
    stream,
    check() {
      const ended = hex();
      if (ended === undefined) throw new UserError(`${label}: the ${what} ended before its digest could be checked`);
      const got = `${algorithm}:${ended}`;
      if (got !== digest) throw new UserError(`${label}: the ${what} has digest ${got}, not ${digest}: refusing it`);
    },
  };
}

async function drain(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return;
  for await (const chunk of stream) void chunk;
}

/** The layer's tar, from a gzip, zstd or plain blob (told by its first bytes). */
async function decompress(blob: Readable, label: string): Promise<Readable> {
  const iterator = blob[Symbol.asyncIterator]();
  const first = await iterator.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Uint8Array);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value as Buffer;
    }
  }
  const whole = Readable.from(replay(), { objectMode: false });
  const kind = sniffLayer(head);
  const fail = (err: unknown) => new UserError(`${label}: invalid ${kind} data: ${describeError(err)}`, undefined, { cause: err });
  switch (kind) {
    case 'none':
      return whole;
    case 'gzip': {
      const gunzip = createGunzip({ chunkSize: 256 * 1024 });
      const out = new PassThrough({ highWaterMark: 1 << 20 });
      whole.on('error', (err) => out.destroy(err));
      gunzip.on('error', (err) => out.destroy(err instanceof UserError ? err : fail(err)));
      return whole.pipe(gunzip).pipe(out);
    }
    case 'zstd':
      return unzstd(whole);
  }
}

function readSmall(spool: Spool, file: { entry: AciEntry; body?: { span?: { fd: number; position: number }; content?: Buffer } } | undefined): string | undefined {
  if (!file || file.entry.size > PASSWD_LIMIT) return undefined;
  if (file.body?.content) return file.body.content.toString('utf8');
  if (!file.body?.span) return undefined;
  const buf = Buffer.alloc(file.entry.size);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(spool.fd, buf, got, buf.length - got, file.body.span.position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got).toString('utf8');
}

/**
 * An append-only file of file bodies, read back by offset (as build/cross/compose.ts
 * keeps package bodies). Small bodies are gathered into one buffer and written 1 MiB at
 * a time: a layer of thousands of small files would otherwise cost a write each.
 */
class Spool {
  readonly fd: number;
  /** Bytes in the file plus those pending. */
  #size = 0;
  #pending = Buffer.allocUnsafe(SPOOL_BUFFER);
  #pendingBytes = 0;
  #closed = false;

  constructor(path: string) {
    this.fd = openSync(path, 'wx+', 0o600);
  }

  /** Appends a body of `size` bytes; returns where it starts. */
  async append(body: Readable, size: number, what: string): Promise<number> {
    const start = this.#size;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (this.#pendingBytes + chunk.length > SPOOL_BUFFER) await this.flush();
      if (chunk.length >= SPOOL_BUFFER) {
        await writeAll(this.fd, chunk, this.#size);
      } else {
        chunk.copy(this.#pending, this.#pendingBytes);
        this.#pendingBytes += chunk.length;
      }
      this.#size += chunk.length;
    }
    if (this.#size - start !== size) throw new UserError(`${what}: holds ${this.#size - start} bytes where its header says ${size}`);
    return start;
  }

  /** Writes what is pending: before anything is read back. */
  async flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const at = this.#size - this.#pendingBytes;
    const pending = this.#pending.subarray(0, this.#pendingBytes);
    this.#pending = Buffer.allocUnsafe(SPOOL_BUFFER);
    this.#pendingBytes = 0;
    await writeAll(this.fd, pending, at);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.fd);
  }
}

async function writeAll(fd: number, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length; ) {
    const { bytesWritten } = await writeAsync(fd, chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}
