// Scrapes a metrics endpoint (http://... or unix:/path) and reads the
// Prometheus text exposition format back into samples.
import http from 'node:http';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  status: number;
  contentType: string;
  text: string;
}

/** GET the endpoint (ep as VIO4WD_METRICS_EP takes it, the port the log named). */
export function get(ep: string, urlPath?: string, method = 'GET'): Promise<Scrape> {
  const unix = ep.startsWith('unix:') ? ep.slice(5) : ep.startsWith('/') ? ep : undefined;
  const url = unix === undefined ? new URL(ep) : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request(
      unix !== undefined
        ? { socketPath: unix, path: urlPath ?? '/metrics', method }
        : { host: url?.hostname.replace(/^\[(.*)\]$/, '$1'), port: url?.port, path: urlPath ?? url?.pathname, method },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text }));
      },
    );
    req.setTimeout(10000, () => req.destroy(new Error(`no answer from ${ep} within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

export async function scrape(ep: string): Promise<Sample[]> {
  const r = await get(ep);
  if (r.status !== 200) throw new Error(`${ep}: HTTP ${r.status}: ${r.text}`);
  return parse(r.text);
}

const unescape = (v: string) => v.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));

/** Every sample line (comments skipped); a line it cannot read throws, naming it. */
export function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let lm: RegExpExecArray | null;
    let at = 0;
    while ((lm = re.exec(body)) !== null) {
      labels[lm[1] ?? ''] = unescape(lm[2] ?? '');
      at = re.lastIndex;
    }
    if (at !== body.length) throw new Error(`labels not read to the end: ${line}`);
    const v = m[4] ?? '';
    out.push({ name: m[1] ?? '', labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

/** The samples of a name whose labels include these. */
export function pick(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the matching samples (undefined if there is none). */
export function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const p = pick(samples, name, labels);
  return p.length ? p.reduce((a, s) => a + s.value, 0) : undefined;
}
