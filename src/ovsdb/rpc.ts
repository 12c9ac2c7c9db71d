// JSON-RPC 1.0 as OVSDB uses it (RFC 7047 §4): requests with ids, notifications without, and echo
// in both directions. The peer's echo requests are answered here; a keepalive sends our own after
// a quiet interval and drops the connection when the reply does not come back in time.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { JsonStreamSplitter } from './framing.js';
import { ConnectionLostError, RpcError } from './errors.js';

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface RpcConnectionEvents {
  notification: [method: string, params: unknown[]];
  close: [reason: Error | undefined];
}

export class RpcConnection extends EventEmitter<RpcConnectionEvents> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly splitter = new JsonStreamSplitter();
  private lastHeard = Date.now();
  private probe?: NodeJS.Timeout;
  private closed = false;
  private closeReason: Error | undefined;

  constructor(
    private readonly socket: Socket,
    readonly remote: string,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.shutdown(e));
    socket.on('close', () => this.shutdown(undefined));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  request(method: string, params: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new ConnectionLostError(method));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { method, resolve, reject });
      this.write({ method, params, id });
    });
  }

  notify(method: string, params: unknown[]): void {
    this.write({ method, params, id: null });
  }

  /**
   * Sends an echo whenever nothing arrived for intervalMs; with no reply within another interval the
   * peer counts as dead and the connection closes.
   */
  startKeepalive(intervalMs: number): void {
    if (intervalMs <= 0 || this.probe) return;
    let outstanding: number | undefined;
    this.probe = setInterval(
      () => {
        const now = Date.now();
        const quiet = now - this.lastHeard;
        // Anything heard since the probe went out proves the peer alive, not just the echo reply.
        if (outstanding !== undefined && this.lastHeard >= outstanding) outstanding = undefined;
        if (outstanding !== undefined && now - outstanding >= intervalMs) {
          // After an event-loop stall the reply may be waiting in the socket: let I/O run first.
          const sent = outstanding;
          setImmediate(() => {
            if (this.lastHeard < sent)
              this.close(new Error(`no reply to inactivity probe within ${intervalMs} ms`));
          });
          return;
        }
        if (outstanding === undefined && quiet >= intervalMs) {
          outstanding = Date.now();
          this.request('echo', ['keepalive']).catch(() => undefined);
        }
      },
      Math.max(10, Math.floor(intervalMs / 4)),
    );
    this.probe.unref();
  }

  close(reason?: Error): void {
    this.shutdown(reason);
    this.socket.destroy();
  }

  private write(msg: unknown): void {
    if (this.closed) return;
    this.socket.write(JSON.stringify(msg));
  }

  private onData(chunk: Buffer): void {
    this.lastHeard = Date.now();
    let messages: unknown[];
    try {
      messages = this.splitter.push(chunk);
    } catch (e) {
      this.close(e as Error);
      return;
    }
    for (const m of messages) this.dispatch(m as Record<string, unknown>);
  }

  private dispatch(m: Record<string, unknown>): void {
    if (typeof m.method === 'string') {
      const params = Array.isArray(m.params) ? m.params : [];
      if (m.id !== null && m.id !== undefined) {
        // The only request a server sends is echo; anything else gets an error, as RFC 7047 asks.
        if (m.method === 'echo') this.write({ result: params, error: null, id: m.id });
        else this.write({ result: null, error: `unknown method ${m.method}`, id: m.id });
        return;
      }
      this.emit('notification', m.method, params);
      return;
    }
    const p = typeof m.id === 'number' ? this.pending.get(m.id) : undefined;
    if (!p) return; // a reply to a request we gave up on
    this.pending.delete(m.id as number);
    if (m.error !== null && m.error !== undefined) p.reject(new RpcError(p.method, m.error));
    else p.resolve(m.result);
  }

  private shutdown(reason: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    if (this.probe) clearInterval(this.probe);
    for (const p of this.pending.values()) p.reject(new ConnectionLostError(p.method));
    this.pending.clear();
    this.emit('close', this.closeReason);
  }
}
