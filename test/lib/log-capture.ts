// A Logger that keeps its lines ("level message") for a test to read.
import type { Logger } from '@vio4wd/common';

export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (msg: string) => {
    lines.push(`${level} ${msg}`);
    return undefined as never;
  };
  const log = { emerg: keep('emerg'), alert: keep('alert'), crit: keep('crit'), error: keep('error'), warning: keep('warning'),
    notice: keep('notice'), info: keep('info'), debug: keep('debug') } as unknown as Logger;
  return { log, lines };
}
