import { shortId } from '../appc/image-id.ts';
import type { RktContext } from '../config/context.ts';
import { UserError, ExitCode } from '../util/errors.ts';
import { tabulate } from '../util/table.ts';
import { openStore } from './open-store.ts';

// `rkt image list`: the stored images, for people (a table as rkt prints it) and for
// scripts (JSON with stable field names).

/** One image as `rkt image list --format json` prints it. Field names are an interface: never rename. */
export interface ImageInfo {
  /** sha512-<128 hex>, always whole. */
  id: string;
  name: string;
  /** The manifest's labels (version, os, arch, ...). */
  labels: Record<string, string>;
  /** Bytes of the stored, uncompressed tar. */
  size: number;
  /** RFC 3339. */
  importTime: string;
  /** RFC 3339; the import time until the image is first rendered or run. */
  lastUsedTime: string;
}

export const LIST_FIELDS = ['id', 'name', 'labels', 'size', 'importtime', 'lastused'] as const;
export type ListField = (typeof LIST_FIELDS)[number];
export const DEFAULT_LIST_FIELDS: readonly ListField[] = ['id', 'name', 'size', 'importtime', 'lastused'];
export const SORT_ORDERS = ['asc', 'desc'] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

const LEGEND: Record<ListField, string> = {
  id: 'ID',
  name: 'NAME',
  labels: 'LABELS',
  size: 'SIZE',
  importtime: 'IMPORT TIME',
  lastused: 'LAST USED',
};

/** Parses "id,name" (case-insensitive, each field once) for --fields and --sort. */
export function parseFields(text: string, flag: string): ListField[] {
  const out: ListField[] = [];
  for (const raw of text.split(',')) {
    const f = raw.trim().toLowerCase();
    if (!(LIST_FIELDS as readonly string[]).includes(f)) {
      throw new UserError(`${flag}: unknown field "${raw.trim()}"; valid fields: ${LIST_FIELDS.join(', ')}`, ExitCode.usage);
    }
    if (out.includes(f as ListField)) throw new UserError(`${flag}: field "${f}" given twice`, ExitCode.usage);
    out.push(f as ListField);
  }
  return out;
}

/** The stored images, sorted by `sort` fields (default import time, oldest first). */
export async function listImages(
  ctx: RktContext,
  opts: { sort?: readonly ListField[]; order?: SortOrder } = {},
): Promise<ImageInfo[]> {
  const store = await openStore(ctx);
  const infos: ImageInfo[] = (await store.list()).map((r) => ({
    id: r.id,
    name: r.name,
    labels: Object.fromEntries(r.labels.map((l) => [l.name, l.value])),
    size: r.size,
    importTime: r.importedAt,
    lastUsedTime: r.lastUsedAt,
  }));
  const sort = opts.sort ?? ['importtime'];
  const sign = opts.order === 'desc' ? -1 : 1;
  return infos.sort((a, b) => {
    for (const f of sort) {
      const c = compareBy(f, a, b);
      if (c !== 0) return sign * c;
    }
    return a.id.localeCompare(b.id);
  });
}

function compareBy(f: ListField, a: ImageInfo, b: ImageInfo): number {
  switch (f) {
    case 'id':
      return a.id.localeCompare(b.id);
    case 'name':
      return displayName(a).localeCompare(displayName(b));
    case 'labels':
      return labelText(a).localeCompare(labelText(b));
    case 'size':
      return a.size - b.size;
    case 'importtime':
      return Date.parse(a.importTime) - Date.parse(b.importTime);
    case 'lastused':
      return Date.parse(a.lastUsedTime) - Date.parse(b.lastUsedTime);
  }
}

export interface TableOptions {
  fields: readonly ListField[];
  /** Whole IDs, exact sizes in bytes and RFC 3339 times. */
  full: boolean;
  legend: boolean;
  /** "Now" for relative times; a parameter so output is testable. */
  now?: Date;
}

/**
 * The table, laid out as rkt's tabwriter does: cells padded with tabs to columns of
 * 8, so `cut`/`awk -F'\t+'` and the eye both read it. Short IDs are `sha512-` and 32
 * hex digits, enough to stay unique in any real store and valid as a prefix.
 */
export function formatImageTable(infos: readonly ImageInfo[], opts: TableOptions): string {
  const now = opts.now ?? new Date();
  const rows: string[][] = [];
  if (opts.legend) rows.push(opts.fields.map((f) => LEGEND[f]));
  for (const info of infos) rows.push(opts.fields.map((f) => cell(f, info, opts.full, now)));
  return tabulate(rows);
}

function cell(f: ListField, info: ImageInfo, full: boolean, now: Date): string {
  switch (f) {
    case 'id':
      return full ? info.id : shortId(info.id);
    case 'name':
      return displayName(info);
    case 'labels':
      return labelText(info) || '-';
    case 'size':
      return full ? String(info.size) : humanBytes(info.size);
    case 'importtime':
      return full ? info.importTime : relativeTime(info.importTime, now);
    case 'lastused':
      return full ? info.lastUsedTime : relativeTime(info.lastUsedTime, now);
  }
}

/** name:version, as rkt shows it. */
function displayName(info: ImageInfo): string {
  const version = info.labels['version'];
  return version === undefined ? info.name : `${info.name}:${version}`;
}

function labelText(info: ImageInfo): string {
  return Object.entries(info.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB", 12582912 -> "12 MiB" (one decimal below 10). */
export function humanBytes(n: number): string {
  let v = n;
  let unit = 0;
  while (v >= 1024 && unit < IEC.length - 1) {
    v /= 1024;
    unit++;
  }
  const text = unit === 0 || v >= 10 ? String(Math.round(v)) : v.toFixed(1);
  return `${text} ${IEC[unit]}`;
}

const SPANS: [number, string][] = [
  [365 * 86400, 'year'],
  [30 * 86400, 'month'],
  [7 * 86400, 'week'],
  [86400, 'day'],
  [3600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];

/** "now", "5 minutes ago", "2 days ago"; times ahead of `now` (clock skew) read "from now". */
export function relativeTime(rfc3339: string, now: Date): string {
  const t = Date.parse(rfc3339);
  if (Number.isNaN(t)) return rfc3339;
  const secs = Math.round((now.getTime() - t) / 1000);
  const abs = Math.abs(secs);
  if (abs < 1) return 'now';
  for (const [size, unit] of SPANS) {
    if (abs >= size) {
      const k = Math.floor(abs / size);
      return `${k} ${unit}${k === 1 ? '' : 's'} ${secs >= 0 ? 'ago' : 'from now'}`;
    }
  }
  return 'now';
}
