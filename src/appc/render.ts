import { UserError } from '../util/errors.ts';
import { ancestorsOf, normalizeEntryPath } from './tar-path.ts';

// Rendering an image's rootfs from its dependency tree (spec/ace.md, Filesystem Setup),
// as a plan: which layer provides each final path. Extraction then writes every path
// exactly once, so it never overwrites, and never meets a symlink where it expects a
// directory.

/** One image in render order and how deep it sits in the tree (0 = the image itself). */
export interface RenderStep<T> {
  image: T;
  depth: number;
}

/**
 * Images in the order their rootfs are laid down, lowest first, the image itself last:
 * A -> [B, C], C -> [D] gives B, D, C, A. An image reached by two paths is laid down
 * once for each (A -> [B, C], B -> [D], C -> [D] gives D, B, D, C, A), as the spec and
 * the reference acirenderer do, since each pass is filtered by a different branch.
 */
export function renderSteps<T>(root: T, dependenciesOf: (image: T) => T[], key: (image: T) => string): RenderStep<T>[] {
  const steps: RenderStep<T>[] = [];
  const visit = (image: T, branch: string[]): void => {
    const k = key(image);
    if (branch.includes(k)) {
      const cycle = [...branch.slice(branch.indexOf(k)), k].join(' -> ');
      throw new UserError(`render: dependency cycle: ${cycle}`);
    }
    for (const dep of dependenciesOf(image)) visit(dep, [...branch, k]);
    steps.push({ image, depth: branch.length });
  };
  visit(root, []);
  return steps;
}

/** renderSteps without the depths. */
export function renderOrder<T>(root: T, dependenciesOf: (image: T) => T[], key: (image: T) => string): T[] {
  return renderSteps(root, dependenciesOf, key).map((s) => s.image);
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface RenderEntry {
  /** Relative to the rootfs: "usr/bin/x". */
  path: string;
  type: EntryType;
  /** For a hard link: the path it links to, in the same layer. */
  linkname?: string;
}

export interface RenderLayer {
  id: string;
  /** The image's depth from renderSteps: it tells which whitelists are above it. */
  depth: number;
  /** The image's own pathWhitelist, absolute paths as in the manifest. */
  pathWhitelist: string[];
  entries: RenderEntry[];
}

export interface PlannedEntry {
  /** Where it goes in the rendered rootfs. */
  path: string;
  /** Index of the providing layer in the planRender input. */
  layer: number;
  /** The layer's entry whose content is written here: `path`, except for a relocated hard link. */
  source: string;
  type: EntryType;
  /** For a hard link: the final path to link to, always written by the same layer. */
  linkTo?: string;
}

export interface RenderPlan {
  /** Every path of the rendered rootfs, parents before children. */
  entries: PlannedEntry[];
  /** Per layer index: its entry path (`source`) -> what to write, for extracting while streaming the layer. */
  byLayer: Map<string, PlannedEntry>[];
  /** Parent directories no layer provides (or whose providers lost): create them 0755, owned by root. */
  implicitDirs: string[];
}

interface Whitelist {
  paths: Set<string>;
  /** Ancestors of listed paths: directories an upper whitelist keeps so listed files keep their parents. */
  parents: Set<string>;
}

/**
 * Which layer provides each path of the rootfs. `layers` come in render order (see
 * renderSteps); upper layers win.
 *
 * pathWhitelist rules, and where the spec leaves room:
 * - An image's own whitelist filters its own non-directories; its own directories are
 *   all kept (as the reference acirenderer does).
 * - The whitelist of every image above a layer in its branch filters that layer. The
 *   spec says a file "can be filtered by any of" them, so all apply; the reference
 *   applies only the topmost one. A directory passes an upper whitelist when listed or
 *   when it is a parent of a listed path: the reference drops it, leaving the extractor
 *   to invent the parent of a listed file (losing e.g. /tmp's 1777 mode).
 * - Paths match exactly: a listed directory ("/etc/systemd/system/") keeps that
 *   directory, not what is under it.
 * Symlinks are replaced, never followed: a path that has an upper entry beneath it is a
 *   directory, so a lower non-directory there (a symlink to /usr/lib, say) is dropped
 *   and the path becomes the lower directory or an implicit one; an entry beneath a
 *   non-directory of an upper layer, or of its own layer, is dropped.
 */
export function planRender(layers: RenderLayer[]): RenderPlan {
  const whitelists = layers.map((l) => toWhitelist(l.pathWhitelist));
  const planned = new Map<string, PlannedEntry>();
  const requiredDirs = new Set<string>();
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const filters = upperWhitelists(layers, whitelists, i);
    const own = whitelists[i];
    const entries = latestByPath(layer.entries);
    const kept: RenderEntry[] = [];
    for (const entry of [...entries.values()].sort(byDepth)) {
      if (!passes(entry, own, filters) || !fits(entry, planned, requiredDirs)) continue;
      planned.set(entry.path, { path: entry.path, layer: i, source: entry.path, type: entry.type });
      for (const dir of ancestorsOf(entry.path)) requiredDirs.add(dir);
      kept.push(entry);
    }
    resolveHardLinks(layer, i, kept, entries, planned);
  }
  return toPlan(planned, requiredDirs, layers.length);
}

function toWhitelist(pathWhitelist: string[]): Whitelist | undefined {
  if (pathWhitelist.length === 0) return undefined;
  const paths = new Set(pathWhitelist.map(normalizeEntryPath));
  return { paths, parents: new Set([...paths].flatMap(ancestorsOf)) };
}

// In render order a layer's parent is the next layer shallower than it, its
// grandparent the next one shallower than that, up to the image itself.
function upperWhitelists(layers: RenderLayer[], whitelists: (Whitelist | undefined)[], index: number): Whitelist[] {
  const found: Whitelist[] = [];
  let depth = layers[index]!.depth;
  for (let j = index + 1; j < layers.length; j++) {
    if (layers[j]!.depth >= depth) continue;
    depth = layers[j]!.depth;
    const w = whitelists[j];
    if (w) found.push(w);
  }
  return found;
}

// Within one tar the last entry for a path is the one that counts.
function latestByPath(entries: RenderEntry[]): Map<string, RenderEntry> {
  const byPath = new Map<string, RenderEntry>();
  for (const e of entries) {
    const path = normalizeEntryPath(e.path);
    if (path !== '') byPath.set(path, { ...e, path });
  }
  return byPath;
}

// Parents first, so a layer's own symlink is decided before anything beneath it.
function byDepth(a: RenderEntry, b: RenderEntry): number {
  return a.path.split('/').length - b.path.split('/').length;
}

function passes(entry: RenderEntry, own: Whitelist | undefined, uppers: Whitelist[]): boolean {
  const isDir = entry.type === 'directory';
  if (own && !isDir && !own.paths.has(entry.path)) return false;
  return uppers.every((w) => w.paths.has(entry.path) || (isDir && w.parents.has(entry.path)));
}

function fits(entry: RenderEntry, planned: Map<string, PlannedEntry>, requiredDirs: Set<string>): boolean {
  if (planned.has(entry.path)) return false;
  if (entry.type !== 'directory' && requiredDirs.has(entry.path)) return false;
  return ancestorsOf(entry.path).every((dir) => (planned.get(dir)?.type ?? 'directory') === 'directory');
}

// A hard link must get its target's content from its own layer. When the target's
// path went to an upper layer, or was filtered out, one link (the shallowest, then the
// first in the layer) takes the target's content and the others link to it.
function resolveHardLinks(
  layer: RenderLayer,
  index: number,
  kept: RenderEntry[],
  entries: Map<string, RenderEntry>,
  planned: Map<string, PlannedEntry>,
): void {
  const holders = new Map<string, string>();
  for (const link of kept.filter((e) => e.type === 'link')) {
    const target = linkTarget(layer, link, entries);
    const mine = planned.get(target.path);
    const plan = planned.get(link.path)!;
    if (mine?.layer === index && mine.source === target.path) {
      plan.linkTo = target.path;
      continue;
    }
    const holder = holders.get(target.path);
    if (holder !== undefined) plan.linkTo = holder;
    else {
      holders.set(target.path, link.path);
      planned.set(link.path, { path: link.path, layer: index, source: target.path, type: target.type });
    }
  }
}

function linkTarget(layer: RenderLayer, link: RenderEntry, entries: Map<string, RenderEntry>): RenderEntry {
  const seen = new Set<string>();
  let entry = link;
  while (entry.type === 'link') {
    const name = normalizeEntryPath(entry.linkname ?? '');
    const next = entries.get(name);
    if (next === undefined || seen.has(name)) {
      throw new UserError(`render: image ${layer.id}: hard link ${link.path} points to ${name || 'nothing'}, which the image does not hold`);
    }
    seen.add(name);
    entry = next;
  }
  return entry;
}

function toPlan(planned: Map<string, PlannedEntry>, requiredDirs: Set<string>, layerCount: number): RenderPlan {
  const entries = [...planned.values()].sort((a, b) => compare(a.path, b.path));
  const byLayer = Array.from({ length: layerCount }, () => new Map<string, PlannedEntry>());
  for (const e of entries) byLayer[e.layer]!.set(e.source, e);
  const implicitDirs = [...requiredDirs].filter((d) => !planned.has(d)).sort(compare);
  return { entries, byLayer, implicitDirs };
}

// Plain code-unit order puts a parent before its children ("a" < "a-b" < "a/b").
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
