import type { BuildOptions, Metafile } from 'esbuild';

export interface BundleTarget {
  entry: string;
  outfile: string;
}

export function bundleOptions(target: BundleTarget): BuildOptions;
export function buildBundle(target: BundleTarget): Promise<{ metafile: Metafile; bytes: number }>;
export function linuxOnlyInputs(inputs: Record<string, unknown>): string[];
