import pkg from '../package.json' with { type: 'json' };
import { APPC_VERSION } from './appc/spec-version.ts';

export const VERSION: string = pkg.version;

export function versionText(program: string): string {
  return `${program} version ${VERSION}\nappc version ${APPC_VERSION}\n`;
}
