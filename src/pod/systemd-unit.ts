// `rkt unit`: a systemd service that runs one pod (after CoreOS rkt's "Using rkt with
// systemd"). Pure: the unit's text from plain data, so every line can be checked
// without systemd; src/cli/rkt/unit.ts gathers the data and writes the file.
//
// The service is Type=notify: stage1 sends READY=1 once every app has started
// (native/notify.c). That message comes from the pod's PID 1, a child of the main
// process (the `rkt run` systemd started, which became stage1's outer process through
// execve), hence NotifyAccess=all; the apps cannot reach the socket (it is not in their
// roots and not in their environment). Stopping goes through `rkt stop` (SIGTERM to the
// pod's PID 1, which passes it to every app); KillMode=mixed then sends SIGTERM to the
// main process only, and SIGKILL to all that is left once TimeoutStopSec is over.
// ExecStopPost marks the exited pod for `rkt gc` as rkt's documentation recommends.

export const RESTART_POLICIES = ['always', 'on-failure', 'no'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export interface UnitSpec {
  /** The unit's name without ".service". */
  name: string;
  description: string;
  /** How to run rkt: an absolute executable and its first arguments (node, its options, the bundle). */
  rkt: readonly string[];
  /** The global flags every rkt command of the unit gets (--dir=..., ...). */
  globalFlags: readonly string[];
  /** `rkt run`'s arguments after its --uuid-file-save: pod flags, images and app flags. */
  runArgs: readonly string[];
  /** Where `rkt run` saves the pod's UUID, and `rkt stop` reads it. */
  uuidFile: string;
  restart: RestartPolicy;
  /** systemd time spans ("5s", "5min"). */
  restartSec: string;
  timeoutStartSec: string;
  timeoutStopSec: string;
}

/** Exit status 143 is 128 + SIGTERM: how an app that does not catch SIGTERM leaves when stopped. */
const STOPPED_BY_SIGTERM = 143;

/** The .service file. */
export function systemdUnit(spec: UnitSpec): string {
  checkSpec(spec);
  const rkt = (...args: string[]) => execLine([...spec.rkt, ...spec.globalFlags, ...args]);
  const lines = [
    `# Written by rkt unit (docs/fleet.md). The pod's UUID: ${spec.uuidFile}`,
    '[Unit]',
    `Description=${oneLine(spec.description)}`,
    // Images may have to be fetched first.
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=notify',
    'NotifyAccess=all',
    `ExecStart=${rkt('run', `--uuid-file-save=${spec.uuidFile}`, ...spec.runArgs)}`,
    // The pod running now is the one `rkt run` saved in the file.
    `ExecStop=${rkt('stop', `--uuid-file=${spec.uuidFile}`)}`,
    // "-": a failing gc must not fail the unit (or keep it from restarting).
    `ExecStopPost=-${rkt('gc', '--mark-only')}`,
    'KillMode=mixed',
    `Restart=${spec.restart}`,
    `RestartSec=${spec.restartSec}`,
    `TimeoutStartSec=${spec.timeoutStartSec}`,
    `TimeoutStopSec=${spec.timeoutStopSec}`,
    `SuccessExitStatus=${STOPPED_BY_SIGTERM}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ];
  return `${lines.join('\n')}\n`;
}

/** A unit name systemd takes and a shell needs no quotes for: letters, digits and -_.: (no template "@"). */
export function isUnitName(name: string): boolean {
  return /^[A-Za-z0-9_.:-]{1,200}$/.test(name) && !name.startsWith('.') && !name.endsWith('.service');
}

/**
 * A default unit name from the first image as written: the last part of an image name
 * (example.com/web:1.0 -> web) or a file's name without .aci; undefined for an image ID
 * or anything that gives no usable name.
 */
export function unitNameFor(image: string): string | undefined {
  if (image.startsWith('sha512-')) return undefined;
  const base = image.split(',')[0]!.replace(/\/+$/, '').split('/').pop() ?? '';
  const bare = (image.includes('://') || base.endsWith('.aci') ? base.replace(/\.aci$/, '') : base.split(':')[0]!).toLowerCase();
  const name = bare.replace(/[^a-z0-9_.-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return name !== '' && isUnitName(name) ? name : undefined;
}

/** A duration in milliseconds as a systemd time span: "infinity" for 0 (never time out), else h, min, s or ms. */
export function timeSpan(ms: number): string {
  if (ms === 0) return 'infinity';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}min`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A command line for Exec*=, each argument quoted as systemd.syntax(7) reads it back. */
export function execLine(argv: readonly string[]): string {
  if (!argv[0]?.startsWith('/')) throw new Error(`systemd unit: the command ${JSON.stringify(argv[0])} must be an absolute path`);
  return argv.map(quoteExecArg).join(' ');
}

/** Words systemd takes as they are (after the $ and % doubling): no quotes, backslashes, blanks or ";". */
const PLAIN = /^[A-Za-z0-9_@%+=:,./$-]+$/;

/**
 * One argument of an Exec*= line: "%" doubled (specifiers) and "$" doubled (environment
 * substitution), then, unless it is a plain word, the whole of it in double quotes with
 * C escapes for backslash, double quote and control characters. (A quote may only open
 * at the start of a word, so the whole word is quoted, never a part.)
 */
export function quoteExecArg(arg: string): string {
  const doubled = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (PLAIN.test(doubled)) return doubled;
  const escaped = doubled.replace(/[\\"\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\\':
        return '\\\\';
      case '"':
        return '\\"';
      case '\n':
        return '\\n';
      case '\t':
        return '\\t';
      case '\r':
        return '\\r';
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
  return `"${escaped}"`;
}

function oneLine(text: string): string {
  // A unit value ends at the line's end; a trailing backslash would continue it.
  return text.replace(/\s+/g, ' ').replace(/\\+$/, '').replace(/%/g, '%%').trim();
}

function checkSpec(spec: UnitSpec): void {
  if (!isUnitName(spec.name)) throw new Error(`systemd unit: "${spec.name}" is not a unit name`);
  if (!spec.uuidFile.startsWith('/')) throw new Error(`systemd unit: the UUID file ${spec.uuidFile} must be an absolute path`);
  if ([...spec.rkt, ...spec.globalFlags, ...spec.runArgs, spec.uuidFile].some((a) => a.includes('\0'))) {
    throw new Error('systemd unit: an argument holds a NUL byte');
  }
}
