// One logger for every vio4wd service: winston with syslog levels, each line
// prefixed "<N>" so that journald files it at its priority.
import winston from 'winston';

export const SYSLOG_LEVELS = ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug'] as const;
export type SyslogLevel = (typeof SYSLOG_LEVELS)[number];

export type Logger = Pick<winston.Logger, SyslogLevel>;

/** threshold: 0-7 as in VIRTIOFWD_LOG_LEVEL (least to most verbose). */
export function createLogger(service: string, threshold = 6): winston.Logger {
  const level = SYSLOG_LEVELS[Math.max(0, Math.min(7, threshold))] ?? 'info';
  const journald = winston.format.printf((info) => {
    const prio = SYSLOG_LEVELS.indexOf(info.level as SyslogLevel);
    return `<${prio < 0 ? 6 : prio}>${service}: ${String(info.message)}`;
  });
  return winston.createLogger({
    levels: winston.config.syslog.levels,
    level,
    format: journald,
    transports: [
      new winston.transports.Console({
        // Errors and worse to stderr, the rest to stdout.
        stderrLevels: ['emerg', 'alert', 'crit', 'error'],
      }),
    ],
  });
}
