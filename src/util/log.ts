import { pino, type Logger } from 'pino';

// Logs are structured (pino) and go to stderr, so stdout stays for the data a
// script asked for. Quiet by default: warnings and errors only, `--debug` shows all.
const logger: Logger = pino({ level: 'warn', base: undefined }, pino.destination({ fd: 2, sync: true }));

export function log(): Logger {
  return logger;
}

export function setDebug(on: boolean): void {
  logger.level = on ? 'debug' : 'warn';
}

