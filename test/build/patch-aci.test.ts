import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { AciEntry } from '../../src/appc/aci-entry.ts';
import { readAciFile } from '../../src/appc/aci-reader.ts';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter } from '../../src/appc/tar-header.ts';
import { patchAci } from '../../src/build/patch-aci.ts';

const manifest = Buffer.from('{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/xattrs"}');
const body = Buffer.from('#!/bin/sh\n');

function entry(path: string, type: AciEntry['type'], extra: Partial<AciEntry> = {}): AciEntry {
  return { path, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0, ...extra };
}

/** An image whose file carries extended attributes (a file capability, say), as tar --xattrs writes them. */
function imageWithXattrs(): Buffer {
  const parts: Buffer[] = [];
  const add = (e: AciEntry, content?: Buffer) => {
    parts.push(encodeTarHeader(e));
    if (content) parts.push(content, Buffer.alloc(paddingAfter(content.length)));
  };
  add(entry('manifest', 'file', { size: manifest.length }), manifest);
  add(entry('rootfs', 'directory'));
  add(entry('rootfs/ping', 'file', { size: body.length, mode: 0o755, xattrs: { 'user.origin': 'debian', 'security.selinux': 'bin_t' } }), body);
  parts.push(END_OF_ARCHIVE);
  return gzipSync(Buffer.concat(parts));
}

test('patch-manifest keeps every entry but the manifest, extended attributes included', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patch-aci-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const input = path.join(dir, 'in.aci');
  fs.writeFileSync(input, imageWithXattrs());
  const before = await readAciFile(input);
  assert.deepEqual(before.entries.find((e) => e.path === 'rootfs/ping')?.xattrs, { 'security.selinux': 'bin_t', 'user.origin': 'debian' });

  const output = path.join(dir, 'out.aci');
  const { imageId } = await patchAci(input, output, { patch: { name: 'example.com/patched' } });
  const after = await readAciFile(output);
  assert.equal(after.imageId, imageId);
  assert.equal(after.manifest.name, 'example.com/patched');
  const others = (c: typeof before) => c.entries.filter((e) => e.path !== 'manifest');
  assert.deepEqual(others(after), others(before));
});
