// The JSON-RPC layer against a plain socket peer: what it answers and when it gives up. (The
// client's tests run the same code against ovsdb-server.)
import { createServer, connect, type Server, type Socket } from 'node:net';
import { RpcConnection } from './rpc.js';
import { ConnectionLostError, RpcError } from './errors.js';

describe('RpcConnection', () => {
  let server: Server;
  let peer: Promise<Socket>;
  let rpc: RpcConnection;

  beforeEach(async () => {
    let accept: (s: Socket) => void;
    peer = new Promise((r) => (accept = r));
    server = createServer((s) => accept(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise((r) => socket.once('connect', r));
    rpc = new RpcConnection(socket, `tcp:127.0.0.1:${port}`);
  });
  afterEach(async () => {
    rpc.close();
    (await peer).destroy();
    await new Promise((r) => server.close(r));
  });

  function nextMessage(s: Socket): Promise<Record<string, unknown>> {
    return new Promise((r) =>
      s.once('data', (d: Buffer) => r(JSON.parse(d.toString()) as Record<string, unknown>)),
    );
  }

  it('answers the peer echo with its params and reports notifications', async () => {
    const p = await peer;
    const notified = new Promise((r) => rpc.once('notification', (m, params) => r([m, params])));
    const reply = nextMessage(p);
    // Two messages in one write, the second split across writes.
    p.write('{"method":"echo","params":["x",1],"id":"echo"}{"method":"upd');
    p.write('ate2","params":["m",{}],"id":null}');
    expect(await reply).toEqual({ result: ['x', 1], error: null, id: 'echo' });
    expect(await notified).toEqual(['update2', ['m', {}]]);
  });

  it('matches replies to requests and turns errors into RpcError', async () => {
    const p = await peer;
    p.on('data', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { id: number; method: string };
      p.write(
        JSON.stringify(
          m.method === 'list_dbs'
            ? { id: m.id, result: ['A'], error: null }
            : { id: m.id, result: null, error: 'unknown method' },
        ),
      );
    });
    await expect(rpc.request('list_dbs', [])).resolves.toEqual(['A']);
    await expect(rpc.request('bogus', [])).rejects.toThrow(new RpcError('bogus', 'unknown method'));
  });

  it('fails requests in flight when the connection drops', async () => {
    const pending = rpc.request('transact', ['db']);
    (await peer).destroy();
    await expect(pending).rejects.toBeInstanceOf(ConnectionLostError);
    expect(rpc.isClosed).toBe(true);
  });

  it('sends an echo after a quiet interval and closes when none comes back', async () => {
    const p = await peer;
    const probe = nextMessage(p);
    const closed = new Promise<Error | undefined>((r) => rpc.once('close', r));
    const started = Date.now();
    rpc.startKeepalive(100);
    expect(await probe).toMatchObject({ method: 'echo' });
    expect((await closed)?.message).toMatch(/no reply to inactivity probe within 100 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('stays up while the peer answers its echos', async () => {
    const p = await peer;
    p.on('data', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { id: number; params: unknown[] };
      p.write(JSON.stringify({ id: m.id, result: m.params, error: null }));
    });
    rpc.startKeepalive(100);
    await new Promise((r) => setTimeout(r, 500));
    expect(rpc.isClosed).toBe(false);
  });
});
