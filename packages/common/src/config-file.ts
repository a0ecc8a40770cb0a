// Reader of /etc/default/virtioforwarder: NAME=value lines as a shell would
// read them (# comments, quotes, bash arrays), without running a shell.

export interface RawEntry {
  name: string;
  /** One element for a scalar, the elements for a bash array. */
  values: string[];
  isArray: boolean;
  line: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Splits shell words: whitespace separates, quotes group, # starts a comment. */
function words(text: string, where: string, problems: string[]): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) {
        problems.push(`${where}: unterminated ${c} quote`);
        return out;
      }
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text.charAt(++i);
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      // To the end of the line: an array may go on on the next one.
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** source names the file in problems ("source:line: ..."). */
export function parseConfigText(text: string, source = 'config'): RawEntry[] {
  const entries: RawEntry[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const where = `${source}:${lineNo}`;
    let line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trim();
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    if (eq < 0 || !NAME.test(name)) {
      problems.push(`${where}: expected NAME=value, found '${line}'`);
      continue;
    }
    let rest = line.slice(eq + 1);
    if (rest.startsWith('(')) {
      // A bash array, possibly over several lines, up to the closing ')'.
      let body = rest.slice(1);
      while (!/\)\s*(#.*)?$/.test(body) && i + 1 < lines.length) body += '\n' + (lines[++i] ?? '');
      const close = body.lastIndexOf(')');
      if (close < 0) {
        problems.push(`${where}: ${name}: array is missing its closing ')'`);
        continue;
      }
      entries.push({ name, values: words(body.slice(0, close), where, problems), isArray: true, line: lineNo });
      continue;
    }
    const w = words(rest, where, problems);
    if (w.length > 1) {
      problems.push(`${where}: ${name}: value has unquoted spaces (quote it, or use an array: ${name}=(a b))`);
      continue;
    }
    rest = w[0] ?? '';
    entries.push({ name, values: [rest], isArray: false, line: lineNo });
  }
  if (problems.length) throw new ConfigError(problems);
  return entries;
}
