// The manager's admission webhook server: HTTPS, AdmissionReview v1, one handler per path. Every
// replica serves it (not only the leader), from the shared informer caches.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../runtime/index.js';
import type { JsonPatchOp } from './shape-vm.js';

export interface AdmissionRequest {
  uid: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  namespace?: string;
  name?: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export type AdmissionDecision =
  | { allowed: true; patch?: JsonPatchOp[]; warnings?: string[] }
  | { allowed: false; code: number; message: string };

export type AdmissionHandler = (req: AdmissionRequest) => Promise<AdmissionDecision>;

export interface WebhookServerOptions {
  /** "host:port"; port 0 picks a free one. */
  address: string;
  certFile: string;
  keyFile: string;
  handlers: Record<string, AdmissionHandler>;
  logger: Logger;
}

export class WebhookServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly watched: string[],
  ) {}

  static async listen(opts: WebhookServerOptions): Promise<WebhookServer> {
    const i = opts.address.lastIndexOf(':');
    const host = opts.address.slice(0, i) || '0.0.0.0';
    const port = Number(opts.address.slice(i + 1));
    const tls = () => ({ cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile) });
    const server = createServer(tls(), (req, res) => {
      // The API server appends ?timeout=…; route on the path alone.
      const handler = opts.handlers[(req.url ?? '').split('?')[0]!];
      if (req.method !== 'POST' || !handler) {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void review(handler, Buffer.concat(chunks).toString('utf8'), opts.logger).then((body) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    // cert-manager rotates the files in place: reload them, no restart needed.
    const reload = () => {
      try {
        server.setSecureContext(tls());
      } catch (e) {
        opts.logger.error('reloading webhook certificate failed', {
          error: e instanceof Error ? e.message : String(e),
        });
      }
    };
    for (const f of [opts.certFile, opts.keyFile]) watchFile(f, { interval: 2_000 }, reload);
    return new WebhookServer(server, (server.address() as AddressInfo).port, [opts.certFile, opts.keyFile]);
  }

  close(): Promise<void> {
    for (const f of this.watched) unwatchFile(f);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // The API server keeps its connections to webhooks alive; close() alone would wait for them.
    this.server.closeAllConnections();
    return closed;
  }
}

async function review(handler: AdmissionHandler, body: string, log: Logger): Promise<object> {
  let uid = '';
  let decision: AdmissionDecision;
  try {
    const parsed = JSON.parse(body) as { apiVersion?: string; request?: AdmissionRequest };
    if (!parsed.request) throw new Error('AdmissionReview without request');
    uid = parsed.request.uid;
    decision = await handler(parsed.request);
  } catch (e) {
    log.error('admission review failed', { error: e instanceof Error ? e.message : String(e) });
    decision = {
      allowed: false,
      code: 500,
      message: `capk-podnet webhook: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  const response: Record<string, unknown> = { uid, allowed: decision.allowed };
  if (decision.allowed) {
    if (decision.patch?.length) {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
    }
    if (decision.warnings?.length) response.warnings = decision.warnings;
  } else {
    response.status = {
      code: decision.code,
      message: decision.message,
      reason: decision.code === 409 ? 'Conflict' : undefined,
    };
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
