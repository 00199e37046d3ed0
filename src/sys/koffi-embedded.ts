import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { describeError } from '../util/errors.ts';
import { cacheDir, materialize } from './native-cache.ts';

// Bundle only: scripts/bundle.mjs puts this module where koffi's `loadStatic` was, so
// koffi's own JS (platform checks, version check, wrapper) runs unchanged while its
// native part comes from inside dist/rkt instead of node_modules.

/** One koffi.node, brotli-compressed and base64-encoded by the build. */
export interface EmbeddedNative {
  sha256: string;
  brotli: string;
}

/** koffi calls this with `${process.platform}-${process.arch}` and expects the native module. */
export function loadEmbedded(pkg: string, natives: Record<string, EmbeddedNative>, version: string): unknown {
  const triplet = tripletFor(pkg);
  const native = natives[triplet];
  if (!native) throw new Error(`no koffi build for ${triplet} is embedded in this rkt`);
  const { dir, create } = cacheDir();
  try {
    if (create) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new Error(`cannot create the FFI cache: ${describeError(err)} (set RKT_FFI_CACHE to a writable directory)`);
  }
  // The uid keeps users apart in a shared dir like /tmp, where only the owner's file counts.
  const name = `koffi-${version}-${triplet}-${native.sha256.slice(0, 16)}-uid${process.geteuid?.() ?? 0}.node`;
  const file = materialize(dir, name, native.sha256, () => unbrotli(native.brotli));
  const mod = { exports: {} as unknown };
  try {
    process.dlopen(mod, file, os.constants.dlopen.RTLD_NOW);
  } catch (err) {
    throw new Error(`dlopen: ${describeError(err)}`);
  }
  return mod.exports;
}

/** Required here, as the cache is written once per version and host: zlib costs every start-up a millisecond. */
function unbrotli(base64: string): Buffer {
  const zlib = createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
  return zlib.brotliDecompressSync(Buffer.from(base64, 'base64'));
}

function tripletFor(pkg: string): string {
  if (pkg !== 'linux-arm') return pkg.replace('-', '_');
  // 32-bit ARM: koffi only ships hard-float (armhf); a soft-float node cannot use it.
  return hardFloat(process.execPath) ? 'linux_armhf' : 'linux_armel';
}

/** EF_ARM_ABI_FLOAT_HARD in the ELF header of a 32-bit ARM executable. */
function hardFloat(executable: string): boolean {
  const header = Buffer.alloc(40);
  const fd = fs.openSync(executable, 'r');
  try {
    fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  return (header.readUInt32LE(36) & 0x400) !== 0;
}
