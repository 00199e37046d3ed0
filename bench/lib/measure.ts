import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runner } from './types.ts';

export interface Sample {
  wallMs: number;
  /** Peak RSS of the largest single process in the command's tree (GNU time's %M), in KiB. */
  rssKiB: number | null;
  outputBytes: number | null;
}

const scratch = mkdtempSync(join(tmpdir(), 'bench-time-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const rssFile = join(scratch, 'rss');

// GNU time reports the peak RSS for free; BSD time (macOS) has no -f, so there we go
// without the column rather than without the benchmark.
const gnuTime = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, 'true']).status === 0;

export async function measure(runner: Runner): Promise<Sample> {
  if (runner.output) rmSync(runner.output, { force: true });
  let wallMs: number;
  let rssKiB: number | null = null;
  if (runner.cmd) {
    const start = performance.now();
    await run(runner.cmd);
    wallMs = performance.now() - start;
    if (gnuTime) rssKiB = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  } else if (runner.fn) {
    const start = performance.now();
    await runner.fn();
    wallMs = performance.now() - start;
  } else {
    throw new Error(`runner ${runner.label} has neither cmd nor fn`);
  }
  return { wallMs, rssKiB, outputBytes: runner.output ? statSync(runner.output).size : null };
}

function run(cmd: string): Promise<void> {
  const [file, args] = gnuTime
    ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, 'sh', '-c', cmd]]
    : ['sh', ['-c', cmd]];
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else {
        const why = stderr.trim().split('\n').pop() ?? '';
        reject(new Error(`${signal ?? `exit ${code}`}${why ? `: ${why}` : ''}`));
      }
    });
  });
}
