import type { InsecureCheck } from './insecure.ts';

/**
 * What every rkt command knows from the global flags. Tests never touch the real
 * /etc/rkt or /var/lib/rkt: they pass --dir, --local-config and --system-config.
 */
export interface RktContext {
  /** The store and pods: --dir, default /var/lib/rkt. */
  dir: string;
  /** Administrator configuration: --local-config, default /etc/rkt. */
  localConfig: string;
  /** Vendor configuration, overridden by localConfig: --system-config, default /usr/lib/rkt. */
  systemConfig: string;
  /** Checks switched off by --insecure-options. */
  insecure: ReadonlySet<InsecureCheck>;
  /** --trust-keys-from-https: trust a prefix's keys found by discovery over HTTPS without asking. */
  trustKeysFromHttps: boolean;
  /** Where warnings and notices go (stderr); a function so tests can collect them. */
  warn: (line: string) => void;
}

export const DEFAULT_PATHS = { dir: '/var/lib/rkt', localConfig: '/etc/rkt', systemConfig: '/usr/lib/rkt' } as const;
