import type { Argv } from 'yargs';
import { commandIndex, type GlobalArgs } from './global.ts';

type AddCommand = (y: Argv<GlobalArgs>) => Promise<Argv<GlobalArgs>>;

// Keyed by command word, in --help order. Only the module of the command named is
// loaded: together they import everything (the store, pods, openpgp...), and that is
// most of a Pi Zero's start-up.
const COMMANDS: Record<string, AddCommand> = {
  run: async (y) => y.command((await import('./run.ts')).runCommand),
  prepare: async (y) => y.command((await import('./prepare.ts')).prepareCommand),
  'run-prepared': async (y) => y.command((await import('./run-prepared.ts')).runPreparedCommand),
  fetch: async (y) => y.command((await import('./fetch.ts')).fetchCommand),
  image: async (y) => y.command((await import('./image.ts')).imageCommand),
  list: async (y) => y.command((await import('./list.ts')).listCommand),
  status: async (y) => y.command((await import('./status.ts')).statusCommand),
  stop: async (y) => y.command((await import('./stop.ts')).stopCommand),
  enter: async (y) => y.command((await import('./enter.ts')).enterCommand),
  'cat-manifest': async (y) => y.command((await import('./cat-manifest.ts')).catManifestCommand),
  rm: async (y) => y.command((await import('./rm.ts')).rmCommand),
  gc: async (y) => y.command((await import('./gc.ts')).gcCommand),
  trust: async (y) => y.command((await import('./trust.ts')).trustCommand),
  version: async (y) => y.command((await import('./version.ts')).versionCommand),
  unit: async (y) => y.command((await import('./unit.ts')).unitCommand),
  'metadata-service': async (y) => y.command((await import('./metadata-service.ts')).metadataServiceCommand),
};

/** Adds the commands yargs needs for `argv`: the one it names, or all of them (for --help, a typo, no command). */
export async function addCommands(y: Argv<GlobalArgs>, argv: readonly string[]): Promise<void> {
  const word = argv[commandIndex(argv)];
  const named = word !== undefined && Object.hasOwn(COMMANDS, word) ? [COMMANDS[word]!] : Object.values(COMMANDS);
  for (const add of named) await add(y);
}
