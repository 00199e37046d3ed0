import type { CaseResult } from './report.ts';

/** One thing to time: a shell command (run with `sh -c`) or an in-process function. */
export interface Runner {
  label: string;
  cmd?: string;
  fn?: () => Promise<void> | void;
  /** A file the runner writes; its size goes into the table. Removed before each run. */
  output?: string;
  /** Why this runner cannot run here (a tool missing, nothing built yet), or null. */
  unavailable?: () => string | null;
}

export interface BenchCase {
  name: string;
  baseline: Runner;
  candidates: Runner[];
  setup?: () => Promise<void> | void;
  teardown?: () => Promise<void> | void;
  /** Timed rounds; BENCH_RUNS overrides, default 5. */
  runs?: number;
}

/** What a bench/*.bench.ts module exports. */
export interface BenchModule {
  cases: BenchCase[];
  /** Prose for docs/benchmarks.md above the tables: what is measured and why. */
  notes?: string;
  /** Prose after the tables, from this run's numbers: which targets it met. */
  verdict?: (results: CaseResult[]) => string;
}
