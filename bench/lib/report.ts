import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem, type } from 'node:os';
import type { Sample } from './measure.ts';
import { benchTmp, repoRoot } from './paths.ts';
import type { Runner } from './types.ts';

export interface RunnerResult {
  runner: Runner;
  samples: Sample[];
  /** Why it has no samples: unavailable here, or a run failed. */
  note?: string;
}

export interface CaseResult {
  name: string;
  runs: number;
  /** The baseline first. */
  results: RunnerResult[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const MB = 1e6;
const fmt = (n: number, digits = 2) => n.toFixed(digits);

export function caseTable(c: CaseResult): string {
  const base = c.results[0]!;
  const baseWall = base.samples.length ? median(base.samples.map((s) => s.wallMs)) : NaN;
  const baseSize = base.samples.at(-1)?.outputBytes ?? null;
  const rows = c.results.map((r) => {
    const name = r.runner.label.replaceAll('|', '\\|'); // a shell pipe would split the row
    const label = r === base ? `${name} (baseline)` : name;
    if (!r.samples.length) return `| ${label} | ${r.note ?? 'no samples'} | | | | | |`;
    const walls = r.samples.map((s) => s.wallMs);
    const wall = median(walls);
    const rss = r.samples.map((s) => s.rssKiB).filter((x): x is number => x !== null);
    const size = r.samples.at(-1)!.outputBytes;
    const cells = [
      label,
      fmt(wall / 1000, 3),
      `${fmt(Math.min(...walls) / 1000)}–${fmt(Math.max(...walls) / 1000)}`,
      Number.isNaN(baseWall) ? '' : `${fmt(wall / baseWall)}x`,
      rss.length ? fmt((median(rss) * 1024) / MB, 0) : '',
      size === null ? '' : fmt(size / MB),
      size === null || !baseSize ? '' : `${fmt(size / baseSize, 3)}x`,
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [
    `### ${c.name}`,
    '',
    `Median of ${c.runs} interleaved runs.`,
    '',
    '| command | median s | range s | time vs baseline | peak RSS MB | output MB | size vs baseline |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    ...c.results.filter((r) => r.runner.cmd).map((r) => `- ${r.runner.label}: \`${shown(r.runner.cmd!)}\``),
  ].join('\n');
}

/** Commands as a reader can retype them: no machine-specific temp or checkout paths. */
function shown(cmd: string): string {
  return cmd.replaceAll(benchTmp, '$BENCH_TMP').replaceAll(repoRoot + '/', '');
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  const mem = (totalmem() / 2 ** 30).toFixed(1);
  const date = new Date().toISOString().slice(0, 10);
  return `${cpu}, ${availableParallelism()} cores, ${mem} GiB RAM, ${type()} ${release()}, node ${process.version}, ${date}`;
}

const HEAD = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts); each section is replaced when its benchmark
runs again. Times are wall clock; compare ratios within one section, not absolute times
across machines or runs. Peak RSS is that of the largest single process of a command
(GNU time %M), not the sum over a pipeline.
`;

/** Replace this benchmark's section of docs/benchmarks.md, keeping the others. */
export function writeSection(file: string, name: string, body: string): void {
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const section = `${start}\n## ${name}\n\n${body.trim()}\n${end}`;
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : HEAD;
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  const next =
    from >= 0 && to > from
      ? doc.slice(0, from) + section + doc.slice(to + end.length)
      : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}
