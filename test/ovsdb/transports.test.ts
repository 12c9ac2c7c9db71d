// The same client over TCP and over TLS with a client certificate from a CA made for the test; a
// certificate from another CA is refused.
import { OvsdbClient, NotConnectedError, nb } from '../../src/ovsdb/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort, waitFor } from '../env/processes.js';
import { StandaloneServer } from './servers.js';

describe('OvsdbClient transports', () => {
  let server: StandaloneServer;
  beforeAll(async () => {
    server = await StandaloneServer.start({ tcp: true, tls: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function roundTrip(client: OvsdbClient<nb.Tables>, name: string): Promise<void> {
    expect(await client.listDbs()).toContain('OVN_Northbound');
    const [r] = await client.transact([client.ops.insert('Logical_Switch', { name })]);
    expect(
      (await server.nbctl('--bare', '--columns=_uuid', 'find', 'Logical_Switch', `name=${name}`)).trim(),
    ).toBe(r!.uuid);
    await server.nbctl('set', 'Logical_Switch', name, `external_ids:via=${name}`);
    await waitFor(
      `${name} update in cache`,
      async () => client.cache.get('Logical_Switch', r!.uuid!)?.external_ids.via,
      5_000,
      10,
    );
  }

  it('works over tcp:host:port', async () => {
    const client = await OvsdbClient.connect({
      model: nb.model,
      remotes: `tcp:127.0.0.1:${server.tcpPort}`,
      tables: ['Logical_Switch'],
    });
    try {
      expect(client.remote).toBe(`tcp:127.0.0.1:${server.tcpPort}`);
      await roundTrip(client, 'over-tcp');
    } finally {
      await client.close();
    }
  });

  it('works over ssl:host:port with a client certificate', async () => {
    const t = server.tlsFiles!;
    const client = await OvsdbClient.connect({
      model: nb.model,
      remotes: `ssl:127.0.0.1:${server.sslPort}`,
      tables: ['Logical_Switch'],
      tls: { privateKey: t.clientKey, certificate: t.clientCert, caCert: t.caCert },
    });
    try {
      await roundTrip(client, 'over-ssl');
    } finally {
      await client.close();
    }
  });

  it('is refused with a certificate the server does not trust', async () => {
    const t = server.tlsFiles!;
    const err = await OvsdbClient.connect({
      model: nb.model,
      remotes: `ssl:127.0.0.1:${server.sslPort}`,
      tls: { privateKey: t.strangerKey, certificate: t.strangerCert, caCert: t.caCert },
      waitForConnectionMs: 3_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotConnectedError);
    // TLS 1.3 checks the client's certificate after the handshake: the server drops the session.
    expect((err as Error).message).toMatch(/last error: .*(get_schema|ECONNRESET|certificate)/);
    expect(readFileSync(join(server.dir, 'nb.log'), 'utf8')).toMatch(/certificate/i);
  });

  it('refuses a server whose certificate is not from the given CA', async () => {
    const t = server.tlsFiles!;
    const err = await OvsdbClient.connect({
      model: nb.model,
      remotes: `ssl:127.0.0.1:${server.sslPort}`,
      // Trusting only the other CA: the server's chain cannot be verified.
      tls: {
        privateKey: t.clientKey,
        certificate: t.clientCert,
        caCert: t.strangerCert.replace('stranger.crt', 'otherca.crt'),
      },
      waitForConnectionMs: 3_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotConnectedError);
    expect((err as Error).message).toMatch(/certificate/i);
  });

  describe('echo from the server', () => {
    let probing: StandaloneServer;
    let port: number;
    beforeAll(async () => {
      probing = await StandaloneServer.start({ remotesFromDb: true });
      port = await freePort();
      // ovsdb-server probes a connection after 1 s of silence and drops it 1 s later without a reply.
      await probing.nbctl(
        'set-connection',
        `ptcp:${port}:127.0.0.1`,
        '--',
        'set',
        'connection',
        '.',
        'inactivity_probe=1000',
      );
      await waitFor('ptcp listener', async () => ((await canConnect(port)) ? true : undefined), 5_000, 20);
    });
    afterAll(async () => {
      await probing?.stop();
    });

    it('is answered, so an idle session survives the server inactivity probe', async () => {
      // Control: a peer that never answers is dropped by this server within the test's window.
      const silent = connect({ host: '127.0.0.1', port });
      const silentClosed = new Promise<number>((r) => silent.once('close', () => r(Date.now())));
      const heard: string[] = [];
      silent.on('data', (d: Buffer) => heard.push(d.toString()));

      const client = await OvsdbClient.connect({
        model: nb.model,
        remotes: `tcp:127.0.0.1:${port}`,
        tables: ['Logical_Switch'],
        inactivityProbeMs: 0, // only the server probes
      });
      let disconnects = 0;
      client.on('disconnected', () => disconnects++);
      try {
        const started = Date.now();
        expect((await silentClosed) - started).toBeLessThan(6_000);
        expect(heard.join('')).toContain('"method":"echo"');
        await new Promise((r) => setTimeout(r, 3_000 - (Date.now() - started)));
        expect(disconnects).toBe(0);
        expect(client.connected).toBe(true);
        await expect(
          client.transact([client.ops.insert('Logical_Switch', { name: 'idle-survivor' })]),
        ).resolves.toHaveLength(1);
      } finally {
        await client.close();
      }
    });
  });
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
