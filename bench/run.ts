// npm run bench [-- NAME...]: runs bench/NAME.bench.ts (all of them by default), prints
// a table per case and rewrites that benchmark's section of docs/benchmarks.md.
// BENCH_RUNS sets the timed rounds, BENCH_WARMUP the untimed ones before them (default 1).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { measure } from './lib/measure.ts';
import { repoRoot } from './lib/paths.ts';
import { caseTable, machine, writeSection, type CaseResult, type RunnerResult } from './lib/report.ts';
import type { BenchCase, BenchModule } from './lib/types.ts';

const benchDir = join(repoRoot, 'bench');
const known = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !known.includes(n));
if (unknown.length) {
  console.error(`bench: no bench/${unknown[0]}.bench.ts (have: ${known.join(', ')})`);
  process.exit(2);
}
const runsOverride = envCount('BENCH_RUNS', 1);
const warmups = envCount('BENCH_WARMUP', 0) ?? 1;

for (const name of wanted.length ? wanted : known) {
  const mod = (await import(pathToFileURL(join(benchDir, `${name}.bench.ts`)).href)) as BenchModule;
  const results: CaseResult[] = [];
  for (const c of mod.cases) results.push(await runCase(name, c));
  const tables = results.map(caseTable);
  const body = [`Machine: ${machine()}.`, mod.notes?.trim() ?? '', ...tables, mod.verdict?.(results).trim() ?? ''].filter(Boolean).join('\n\n');
  console.log(`\n## ${name}\n\n${body}\n`);
  writeSection(join(repoRoot, 'docs', 'benchmarks.md'), name, body);
}

async function runCase(bench: string, c: BenchCase): Promise<CaseResult> {
  await c.setup?.();
  try {
    const runs = runsOverride ?? c.runs ?? 5;
    const results: RunnerResult[] = [c.baseline, ...c.candidates].map((runner) => {
      const why = runner.unavailable?.();
      return why ? { runner, samples: [], note: `skipped: ${why}` } : { runner, samples: [] };
    });
    for (let round = -warmups; round < runs; round++) {
      // Baseline and candidates take turns, and the order rotates each round so that
      // none always runs first (colder caches) or right after the heaviest one.
      const live = results.filter((r) => !r.note);
      const shift = ((round % live.length) + live.length) % live.length;
      for (const r of [...live.slice(shift), ...live.slice(0, shift)]) {
        try {
          const sample = await measure(r.runner);
          if (round >= 0) r.samples.push(sample);
          const tag = round < 0 ? 'warm-up' : `run ${round + 1}/${runs}`;
          console.error(`${bench} / ${c.name} / ${r.runner.label}: ${tag} ${(sample.wallMs / 1000).toFixed(3)} s`);
        } catch (err) {
          r.note = `failed: ${(err as Error).message}`;
          r.samples = [];
          console.error(`${bench} / ${c.name} / ${r.runner.label}: ${r.note}`);
        }
      }
    }
    return { name: c.name, runs, results };
  } finally {
    await c.teardown?.();
  }
}

function envCount(name: string, min: number): number | null {
  const v = process.env[name];
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: ${name} must be a whole number from ${min}, got ${v}`);
    process.exit(2);
  }
  return n;
}
