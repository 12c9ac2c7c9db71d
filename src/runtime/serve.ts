// The probe and metrics endpoints: /healthz (the process answers), /readyz (caches synced and,
// with leader election, leadership known), /metrics (Prometheus text format).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Check = () => boolean;

export interface Endpoints {
  healthz?: Check;
  readyz?: Check;
  metrics?: Registry;
}

/** Parses "host:port" or ":port"; "0" or "" means disabled. */
export function parseBindAddress(addr: string): { host: string; port: number } | undefined {
  if (addr === '' || addr === '0') return undefined;
  const i = addr.lastIndexOf(':');
  const host = i <= 0 ? '0.0.0.0' : addr.slice(0, i);
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad bind address ${addr}`);
  return { host, port };
}

export class EndpointServer {
  private constructor(private readonly server: Server) {}

  static async listen(addr: string, ep: Endpoints): Promise<EndpointServer | undefined> {
    const bind = parseBindAddress(addr);
    if (!bind) return undefined;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const check = path === '/healthz' ? ep.healthz : path === '/readyz' ? ep.readyz : undefined;
      if (check) {
        const ok = check();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
        return;
      }
      if (path === '/metrics' && ep.metrics) {
        const reg = ep.metrics;
        reg.metrics().then(
          (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text),
          (e: unknown) => res.writeHead(500).end(String(e)),
        );
        return;
      }
      res.writeHead(404).end('not found');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bind.port, bind.host, () => resolve());
    });
    return new EndpointServer(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
