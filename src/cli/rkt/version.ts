import type { CommandModule } from 'yargs';
import { detectHostArch } from '../../appc/arch.ts';
import { APPC_VERSION } from '../../appc/spec-version.ts';
import { ffiStatus } from '../../sys/ffi.ts';
import { VERSION } from '../../version.ts';
import { printJson, withFormat, type Format } from '../format.ts';

export const versionCommand: CommandModule<object, { format: Format }> = {
  command: 'version',
  describe: 'Print versions, the host platform and whether the native FFI part loads',
  builder: (y) => withFormat(y).example('$0 version --format json', 'the same, for scripts'),
  handler: (args) => {
    const host = detectHostArch();
    const ffi = ffiStatus();
    const info = { rkt: VERSION, appc: APPC_VERSION, node: process.version, os: host.os, arch: host.arch, ffi };
    if (printJson(args.format, info)) return;
    process.stdout.write(
      `rkt version ${VERSION}\nappc version ${APPC_VERSION}\nnode version ${process.version}\n` +
        `host ${host.os}/${host.arch}\n` +
        `ffi ${ffi.available ? `koffi ${ffi.version}` : `unavailable: ${ffi.reason}`}\n`,
    );
  },
};
