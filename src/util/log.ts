import type { LogFn, Logger } from 'pino';
import { requirePino } from './pino-require.ts';

// Logs are structured (pino) and go to stderr, so stdout stays for the data a
// script asked for. Quiet by default: warnings and errors only, `--debug` shows all.
// Lines below the level are dropped here, so pino is only loaded for a line it writes.

type Level = 'debug' | 'info' | 'warn' | 'error';
export type Log = Record<Level, LogFn>;

const RANK: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 };
let level: Level = 'warn';
let logger: Logger | undefined;

const facade: Log = { debug: writer('debug'), info: writer('info'), warn: writer('warn'), error: writer('error') };

export function log(): Log {
  return facade;
}

export function setDebug(on: boolean): void {
  level = on ? 'debug' : 'warn';
  if (logger) logger.level = level;
}

function writer(at: Level): LogFn {
  return ((...args: unknown[]) => {
    if (RANK[at] < RANK[level]) return;
    const l = pinoLogger();
    (l[at] as (...a: unknown[]) => void).apply(l, args);
  }) as LogFn;
}

function pinoLogger(): Logger {
  if (!logger) {
    const pino = requirePino();
    logger = pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
  }
  return logger;
}
