import { UserError } from '../util/errors.ts';
import { isACIdentifier } from './names.ts';

// App Container Image Discovery (spec/discovery.md), the parts that need no network:
// image references, discovery URLs, meta tags and template rendering.

export interface ImageRef {
  name: string;
  labels: Record<string, string>;
}

export type MetaKind = 'ac-discovery' | 'ac-discovery-pubkeys';

export interface DiscoveryMeta {
  /** The AC name prefix the tag applies to. */
  prefix: string;
  kind: MetaKind;
  /** A URL template for ac-discovery, a plain URL for ac-discovery-pubkeys. */
  content: string;
}

export interface AciEndpoint {
  aci: string;
  signature: string;
}

export interface Endpoints {
  aci: AciEndpoint[];
  pubkeys: string[];
}

/**
 * An image reference as typed on a command line: `example.com/app:1.0,os=linux,arch=armv7l`
 * (":1.0" is the version label). `defaults` (the host's os and arch, say) fill labels the
 * reference does not give.
 */
export function parseImageRef(s: string, defaults: Record<string, string> = {}): ImageRef {
  const [head = '', ...pairs] = s.split(',');
  const [name = '', version, ...extra] = head.split(':');
  const fail = (why: string): never => {
    throw new UserError(`image reference "${s}": ${why}`);
  };
  if (!isACIdentifier(name)) fail(`name "${name}" is not an AC Identifier (lowercase letters, digits and -._~/ between them)`);
  if (extra.length > 0) fail('more than one ":version"');
  const labels: Record<string, string> = {};
  if (version !== undefined) labels['version'] = version || fail('":" must be followed by a version');
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (!isACIdentifier(key)) fail(`label name "${key}" is not an AC Identifier`);
    if (key === 'name') fail('"name" is not a label: the name comes first');
    if (value === '') fail(`label ${key} has no value (write ${key}=VALUE)`);
    if (key in labels) fail(`label ${key} is given twice`);
    labels[key] = value;
  }
  return { name, labels: { ...defaults, ...labels } };
}

/**
 * Where to look for meta tags for `name`, in order: the name itself, then each parent
 * path up to the bare host. With `insecure`, each HTTPS URL is followed by its plain
 * HTTP twin, to try only when the HTTPS one gives no page.
 */
export function discoveryUrls(name: string, insecure: boolean, port?: number): string[] {
  const parts = name.split('/');
  const hostPort = port === undefined ? parts[0] : `${parts[0]}:${port}`;
  const urls: string[] = [];
  for (let end = parts.length; end > 0; end--) {
    const path = [hostPort, ...parts.slice(1, end)].join('/');
    urls.push(`https://${path}?ac-discovery=1`);
    if (insecure) urls.push(`http://${path}?ac-discovery=1`);
  }
  return urls;
}

const KINDS: readonly string[] = ['ac-discovery', 'ac-discovery-pubkeys'] satisfies MetaKind[];

/** The ac-discovery and ac-discovery-pubkeys meta tags of an HTML page, in page order. */
export function parseDiscoveryMeta(html: string): DiscoveryMeta[] {
  const metas: DiscoveryMeta[] = [];
  // A commented-out tag is not a tag.
  const text = html.replace(/<!--[\s\S]*?-->/g, '');
  for (const match of text.matchAll(/<meta(?=[\s/>])/gi)) {
    const attrs = readAttributes(text, match.index + match[0].length);
    const kind = attrs.get('name')?.toLowerCase();
    const content = attrs.get('content')?.trim() ?? '';
    const [prefix = '', ...rest] = content.split(/\s+/);
    const template = rest.join(' ');
    if (kind === undefined || !KINDS.includes(kind) || prefix === '' || template === '') continue;
    metas.push({ prefix, kind: kind as MetaKind, content: template });
  }
  return metas;
}

// Attribute names are case-insensitive; values may be double-, single- or unquoted.
function readAttributes(html: string, from: number): Map<string, string> {
  const attrs = new Map<string, string>();
  const attr = /\s*([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?|\s*\/?\s*(>)|[\s\S]/y;
  attr.lastIndex = from;
  for (let m = attr.exec(html); m !== null && m[5] === undefined; m = attr.exec(html)) {
    const name = m[1]?.toLowerCase();
    if (name !== undefined && !attrs.has(name)) attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return attrs;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] !== '#') return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
    const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/**
 * The image, signature and public key URLs that meta tags give for `name`: only tags
 * whose prefix starts the name count, and a template with a placeholder left unfilled
 * is skipped. The version label defaults to "latest".
 */
export function resolveEndpoints(metas: DiscoveryMeta[], name: string, labels: Record<string, string>): Endpoints {
  const vars = templateVars(name, labels);
  const out: Endpoints = { aci: [], pubkeys: [] };
  for (const meta of metas) {
    if (!name.startsWith(meta.prefix)) continue;
    if (meta.kind === 'ac-discovery-pubkeys') {
      out.pubkeys.push(meta.content);
      continue;
    }
    const aci = fill(meta.content, { ...vars, ext: 'aci' });
    const signature = fill(meta.content, { ...vars, ext: 'aci.asc' });
    if (aci !== undefined && signature !== undefined) out.aci.push({ aci, signature });
  }
  return out;
}

/** The placeholders that keep the matching ac-discovery templates from being filled, sorted. */
export function missingLabels(metas: DiscoveryMeta[], name: string, labels: Record<string, string>): string[] {
  const vars = { ...templateVars(name, labels), ext: 'aci' };
  const missing = new Set<string>();
  for (const meta of metas) {
    if (meta.kind !== 'ac-discovery' || !name.startsWith(meta.prefix)) continue;
    for (const [, key] of meta.content.matchAll(PLACEHOLDER)) if (!Object.hasOwn(vars, key!)) missing.add(key!);
  }
  return [...missing].sort();
}

// A label called "name" must not replace the image name.
function templateVars(name: string, labels: Record<string, string>): Record<string, string> {
  return { version: 'latest', ...labels, name };
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

// One pass, so a label value that looks like a placeholder stays as it is.
function fill(template: string, vars: Record<string, string>): string | undefined {
  let unfilled = false;
  const out = template.replace(PLACEHOLDER, (whole, key: string) => {
    if (Object.hasOwn(vars, key)) return vars[key]!;
    unfilled = true;
    return whole;
  });
  return unfilled ? undefined : out;
}
