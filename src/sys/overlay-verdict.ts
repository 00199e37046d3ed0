import { readFileSync, statfsSync, statSync } from 'node:fs';
import { readCache, writeCache } from '../util/data-cache.ts';
import { overlaySupport, type Probe } from './kernel-features.ts';

// The overlay trial mount is the slowest step of preparing a pod, and its answer cannot
// change while the kernel runs: once it works on the pods' filesystem, that is kept for
// the rest of the boot. A failure is not kept, since `modprobe overlay` may fix it.

const CACHE = 'overlay';

/** overlaySupport(podPath), from the cache when it worked before on this filesystem in this boot. */
export function overlayVerdict(dir: string, podPath: string): Probe {
  const key = filesystemKey(podPath);
  if (key !== undefined && readCache(dir, CACHE) === key) return { ok: true };
  const probe = overlaySupport(podPath);
  if (probe.ok && key !== undefined) writeCache(dir, CACHE, key);
  return probe;
}

/** This boot, and the filesystem `path` is on; undefined where either cannot be told. */
function filesystemKey(path: string): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot} ${statSync(path).dev} ${statfsSync(path).type}`;
  } catch {
    return undefined;
  }
}
