// The metrics endpoint of a service: Prometheus's text exposition format
// over HTTP, on a TCP address or a unix socket (VIO4WD_METRICS_EP).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { metricsAddress, type MetricsEndpoint } from './config.js';
import type { Logger } from './logger.js';

export interface MetricsServerOptions {
  /** The scrape: the exposition text. A failure answers 503 with its message. */
  scrape: () => Promise<string>;
  /** Told of a scrape that failed (once per failure streak: a scraper retries every few seconds). */
  onScrapeError?: (e: unknown) => void;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class MetricsServer {
  private server: http.Server | undefined;
  private failing = false;
  /** Where it serves, once started (the bound port when 0 was asked for). */
  address = 'off';

  constructor(
    readonly endpoint: MetricsEndpoint,
    private readonly opts: MetricsServerOptions,
  ) {}

  /** Serves the endpoint; rejects, naming the address, if it cannot be bound. */
  async start(): Promise<void> {
    const ep = this.endpoint;
    if (ep.kind === 'off') return;
    const server = http.createServer((req, res) => this.answer(req, res));
    // A scraper keeps its connection; a stop must not wait for it.
    server.keepAliveTimeout = 5000;
    if (ep.kind === 'unix') removeStaleSocket(ep.socket);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`metrics endpoint ${metricsAddress(ep)}: ${message(e)}`)));
      if (ep.kind === 'unix') server.listen(ep.socket, resolve);
      else server.listen({ host: ep.host, port: ep.port, exclusive: true }, resolve);
    });
    server.on('error', () => undefined);
    if (ep.kind === 'unix') fs.chmodSync(ep.socket, 0o660);
    this.server = server;
    const port = ep.kind === 'http' ? (server.address() as AddressInfo).port : undefined;
    this.address = metricsAddress(ep, port);
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const ep = this.endpoint;
    const where = ep.kind === 'off' ? '/metrics' : ep.path;
    if (url.pathname !== where && !(ep.kind === 'unix' && url.pathname === '/')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found; metrics are at ${where}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET and HEAD\n');
      return;
    }
    this.opts.scrape().then(
      (text) => {
        this.failing = false;
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: unknown) => {
        if (!this.failing) this.opts.onScrapeError?.(e);
        this.failing = true;
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`scrape failed: ${message(e)}\n`);
      },
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.endpoint.kind === 'unix') fs.rmSync(this.endpoint.socket, { force: true });
  }
}

/**
 * Serves `scrape` at the endpoint (nothing for off) and logs where. An
 * address it cannot bind (a port another program has) rejects, naming
 * `setting`, the variable (or flag) to change.
 */
export async function serveMetrics(ep: MetricsEndpoint, scrape: () => Promise<string>, log: Logger, setting: string): Promise<MetricsServer> {
  const server = new MetricsServer(ep, { scrape, onScrapeError: (e) => log.warning(`metrics: a scrape failed: ${message(e)}`) });
  try {
    await server.start();
  } catch (e) {
    throw new Error(`${message(e)} (${setting}: choose another address, or off)`);
  }
  if (ep.kind !== 'off') log.info(`metrics endpoint serving on ${server.address}`);
  return server;
}

/**
 * A socket file left at the path (by a service that stopped without removing
 * it) is replaced: a second service of the same configuration is refused
 * before this, by its PID file. Anything else stays, and listen says why.
 */
function removeStaleSocket(socket: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socket);
  } catch {
    return;
  }
  if (st.isSocket()) fs.rmSync(socket, { force: true });
}

/**
 * prom-client's process and Node.js metrics, but the three gauges it names
 * like counters (nodejs_active_{handles,requests,resources}_total: promtool
 * check metrics objects; the same numbers stay without _total).
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
}
