import { isIP } from 'node:net';
import type { PodDns, PodHosts, RunOptions } from '../pod/runtime.ts';
import { ExitCode, UserError } from '../util/errors.ts';

// A pod's /etc/resolv.conf and /etc/hosts (docs/networking.md, "DNS and /etc/hosts"),
// from rkt's --dns, --dns-search, --dns-opt and --hosts-entry. Pure: the flags are
// checked here (one-line usage errors naming the flag), the files' text is made here;
// prepare.ts writes POD/resolv.conf and POD/hosts, and mount-plan.ts binds them
// read-only onto each app's /etc/resolv.conf and /etc/hosts (podEtcFiles says which).

/** The pod's files and where each app sees them. Relative to the pod directory. */
export const POD_RESOLV_CONF = 'resolv.conf';
export const POD_HOSTS = 'hosts';

export interface DnsFlags {
  dns?: readonly string[] | undefined;
  dnsSearch?: readonly string[] | undefined;
  dnsOpt?: readonly string[] | undefined;
  hostsEntry?: readonly string[] | undefined;
}

/** Go's StringSlice flags, as rkt had them: each value may hold several, comma-separated. */
function values(list: readonly string[] | undefined): string[] {
  return (list ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());
}

function usage(message: string): UserError {
  return new UserError(message, ExitCode.usage);
}

/**
 * --dns, --dns-search, --dns-opt: undefined when none is given (the image's file
 * stays). `--dns=host` and `--dns=none` stand alone.
 */
export function parseDnsFlags(flags: DnsFlags): PodDns | undefined {
  const servers = values(flags.dns);
  const search = values(flags.dnsSearch);
  const options = values(flags.dnsOpt);
  if (servers.length === 0 && search.length === 0 && options.length === 0) return undefined;
  for (const word of ['host', 'none'] as const) {
    if (!servers.includes(word)) continue;
    if (servers.length > 1 || search.length > 0 || options.length > 0) {
      throw usage(`--dns=${word} stands alone: it cannot be given with other --dns, --dns-search or --dns-opt values`);
    }
    return { mode: word, nameservers: [], search: [], options: [] };
  }
  for (const s of servers) {
    if (isIP(s) === 0) throw usage(`--dns=${s}: not an IP address (give --dns=IP, --dns=host or --dns=none)`);
  }
  for (const d of search) {
    if (!DOMAIN.test(d)) throw usage(`--dns-search=${d}: not a domain name`);
  }
  for (const o of options) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_:.+-]*$/.test(o)) throw usage(`--dns-opt=${o}: not a resolv.conf option (such as ndots:2, timeout:1, rotate)`);
  }
  return { mode: 'pod', nameservers: servers, search, options };
}

/** A host name or domain: labels of letters, digits, `-` and `_`, dot-separated; a trailing dot is allowed. */
const DOMAIN = /^(?=.{1,253}\.?$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$/;

/** --hosts-entry IP=HOST[,HOST...] (repeatable), or `host` alone: undefined when none is given. */
export function parseHostsFlags(flags: DnsFlags): PodHosts | undefined {
  const given = (flags.hostsEntry ?? []).map((v) => v.trim());
  if (given.length === 0) return undefined;
  if (given.includes('host')) {
    if (given.length > 1) throw usage('--hosts-entry=host stands alone: it cannot be given with IP=HOST entries');
    return { mode: 'host', entries: [] };
  }
  const entries = given.map((value) => {
    const eq = value.indexOf('=');
    const ip = eq < 0 ? '' : value.slice(0, eq);
    const names = eq < 0 ? [] : value.slice(eq + 1).split(',').map((n) => n.trim());
    if (eq < 0 || names.length === 0 || names.some((n) => n === '')) throw usage(`--hosts-entry=${value}: give IP=HOST[,HOST...] or host`);
    if (isIP(ip) === 0) throw usage(`--hosts-entry=${value}: ${ip || '(empty)'} is not an IP address`);
    const bad = names.find((n) => !DOMAIN.test(n));
    if (bad !== undefined) throw usage(`--hosts-entry=${value}: ${bad} is not a host name`);
    return { ip, names };
  });
  return { mode: 'pod', entries };
}

/** POD/resolv.conf's text for mode `pod`: nameserver lines, then one search and one options line. */
export function formatResolvConf(dns: PodDns): string {
  const lines = dns.nameservers.map((s) => `nameserver ${s}`);
  if (dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * POD/hosts's text for mode `pod`: localhost on 127.0.0.1 and ::1, the pod's hostname
 * on 127.0.0.1 unless an entry names it, then the entries, one line each, in order.
 */
export function formatHosts(hosts: PodHosts, hostname: string): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost'];
  const named = hosts.entries.some((e) => e.names.some((n) => n.toLowerCase() === hostname.toLowerCase()));
  if (!named) lines.push(`127.0.0.1\t${hostname}`);
  for (const e of hosts.entries) lines.push(`${e.ip}\t${e.names.join(' ')}`);
  return lines.map((l) => `${l}\n`).join('');
}

/** The files a pod has of its own, as binds: POD/<file> onto each app's <target>. */
export function podEtcFiles(options: Pick<RunOptions, 'dns' | 'hosts'>): { file: string; target: string }[] {
  const files: { file: string; target: string }[] = [];
  if (options.dns !== undefined && options.dns.mode !== 'none') files.push({ file: POD_RESOLV_CONF, target: '/etc/resolv.conf' });
  if (options.hosts !== undefined) files.push({ file: POD_HOSTS, target: '/etc/hosts' });
  return files;
}

/**
 * The text of each of the pod's files (podEtcFiles), by file name: `read` gives the
 * host's file for --dns=host and --hosts-entry=host.
 */
export function podEtcContents(options: Pick<RunOptions, 'dns' | 'hosts' | 'hostname'>, read: (hostFile: string) => string): Map<string, string> {
  const out = new Map<string, string>();
  const { dns, hosts } = options;
  if (dns !== undefined && dns.mode !== 'none') out.set(POD_RESOLV_CONF, dns.mode === 'host' ? read('/etc/resolv.conf') : formatResolvConf(dns));
  if (hosts !== undefined) out.set(POD_HOSTS, hosts.mode === 'host' ? read('/etc/hosts') : formatHosts(hosts, options.hostname));
  return out;
}
