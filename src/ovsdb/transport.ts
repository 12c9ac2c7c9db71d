// Remotes as OVN tools spell them (`unix:/path`, `tcp:host:port`, `ssl:host:port`, comma-separated
// for cluster members) and the streams they open.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';

export type Remote =
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'tcp' | 'ssl'; host: string; port: number; text: string };

/** TLS material as ovn-nbctl takes it (-p, -c, -C): file paths or PEM text. */
export interface TlsOptions {
  privateKey: string;
  certificate: string;
  caCert: string;
  /** OVS checks the peer's chain against the CA only; set this to also check the host name. */
  checkServerName?: boolean;
}

export class RemoteError extends Error {
  override name = 'RemoteError';
}

export function parseRemote(text: string): Remote {
  const t = text.trim();
  const colon = t.indexOf(':');
  const kind = t.slice(0, colon);
  const rest = t.slice(colon + 1);
  if (kind === 'unix' && rest) return { kind, path: rest, text: t };
  if (kind === 'tcp' || kind === 'ssl') {
    // IPv6 hosts come bracketed: tcp:[::1]:6641.
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(rest);
    const host = m?.[1] ?? m?.[2];
    const port = Number(m?.[3]);
    if (host && port > 0 && port < 65536) return { kind, host, port, text: t };
  }
  throw new RemoteError(`bad OVSDB remote "${text}": want unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT`);
}

export function parseRemotes(remotes: string | string[]): Remote[] {
  const list = (Array.isArray(remotes) ? remotes : [remotes]).flatMap((r) => r.split(','));
  const out = list.filter((r) => r.trim() !== '').map(parseRemote);
  if (out.length === 0) throw new RemoteError('no OVSDB remote given');
  return out;
}

function pem(v: string): string {
  return v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8');
}

/** Opens a stream to the remote; rejects if it isn't connected within timeoutMs. */
export function openStream(remote: Remote, tls: TlsOptions | undefined, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let socket: Socket;
    const ready = remote.kind === 'ssl' ? 'secureConnect' : 'connect';
    if (remote.kind === 'unix') socket = netConnect({ path: remote.path });
    else if (remote.kind === 'tcp') socket = netConnect({ host: remote.host, port: remote.port });
    else {
      if (!tls) {
        reject(new RemoteError(`${remote.text}: ssl remote needs TLS options (key, certificate, CA)`));
        return;
      }
      socket = tlsConnect({
        host: remote.host,
        port: remote.port,
        key: pem(tls.privateKey),
        cert: pem(tls.certificate),
        ca: pem(tls.caCert),
        ...(tls.checkServerName ? {} : { checkServerIdentity: () => undefined }),
      });
    }
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new RemoteError(`${remote.text}: connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new RemoteError(`${remote.text}: ${e.message}`));
    };
    socket.once('error', onError);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay?.(true);
      resolve(socket);
    });
  });
}
