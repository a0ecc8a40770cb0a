// The release of this installation: the top package.json, three levels up
// from every package's dist/ (the source tree, or /usr/lib/vio4wd in the
// Debian package, whose build writes the package's version there).
import fs from 'node:fs';

export function productVersion(): string {
  try {
    const top = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof top.version === 'string' ? top.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
