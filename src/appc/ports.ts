import { asObject, join, readBoolean, readInteger, requireInteger, requireString } from './json-read.ts';
import { FieldError, quote } from './manifest-error.ts';
import { assertACName } from './names.ts';
import type { Port } from './types.ts';

/** A port an app listens on (spec/aci.md), also a pod's podPort override. */
export function readPort(item: unknown, path: string): Port {
  const obj = asObject(item, path);
  const name = assertACName(requireString(obj, 'name', path), join(path, 'name'));
  const protocol = requireString(obj, 'protocol', path);
  if (protocol !== 'tcp' && protocol !== 'udp') throw new FieldError(join(path, 'protocol'), `${quote(protocol)} must be tcp or udp`);
  const port = requireInteger(obj, 'port', path, 1, 65535);
  // The reference writes an unset count as 0 and reads 0 as 1.
  const count = Math.max(1, readInteger(obj, 'count', path, 0, 65535) ?? 1);
  if (port + count - 1 > 65535) throw new FieldError(join(path, 'count'), `${count} makes the range end past port 65535`);
  const socketActivated = readBoolean(obj, 'socketActivated', path) ?? false;
  return { name, protocol, port, count, socketActivated };
}

export function writePort(p: Port): Record<string, unknown> {
  return { name: p.name, protocol: p.protocol, port: p.port, count: p.count, socketActivated: p.socketActivated };
}
