// winston loggers: JSON lines by default (one object per line, for log shippers), text for humans.
import winston from 'winston';

export type Logger = winston.Logger;
export type LogFormat = 'json' | 'text';

export function createLogger(opts: { level?: string; format?: LogFormat; silent?: boolean } = {}): Logger {
  const format =
    opts.format === 'text'
      ? winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, ...rest }) => {
            const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
            return `${String(timestamp)} ${level} ${String(message)}${extra}`;
          }),
        )
      : winston.format.combine(
          winston.format.timestamp(),
          winston.format.errors({ stack: true }),
          winston.format.json(),
        );
  return winston.createLogger({
    level: opts.level ?? 'info',
    format,
    silent: opts.silent ?? false,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return createLogger({ silent: true });
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
