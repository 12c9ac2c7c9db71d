// OVSDB client figures against a real NB ovsdb-server: transact latency for the driver's typical
// write (insert a port and add it to its switch), cache sync time and heap for 1,000 cached logical
// switch ports, monitor propagation to a second client, and index vs scan lookups.
// Run: node --expose-gc --import tsx bench/ovsdb/main.ts [ports=1000] [samples=300]
import { performance } from 'node:perf_hooks';
import { OvsdbClient, byUuid, nb, type Operation } from '../../src/ovsdb/index.js';
import { OvnCentral } from '../../test/env/ovn-central.js';

const PORTS = Number(process.argv[2] ?? 1000);
const SAMPLES = Number(process.argv[3] ?? 300);
const TABLES: nb.TableName[] = ['Logical_Switch', 'Logical_Switch_Port'];

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function percentiles(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(2);
  return `p50 ${p(0.5)} ms, p95 ${p(0.95)} ms, p99 ${p(0.99)} ms, max ${s.at(-1)!.toFixed(2)} ms (n=${s.length})`;
}

function portOps(client: OvsdbClient<nb.Tables>, sw: string, i: number, name = 'port'): Operation[] {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const mac = `02:00:${[24, 16, 8, 0].map((b) => ((i >> b) & 255).toString(16).padStart(2, '0')).join(':')}`;
  return [
    client.ops.insert(
      'Logical_Switch_Port',
      {
        name: `vm-${i}`,
        addresses: [`${mac} ${ip}`],
        external_ids: {
          'capk-podnet/owner': 'ns/cluster',
          'capk-podnet/machine': `ns/m-${i}`,
          'capk-podnet/kind': 'port',
        },
      },
      name,
    ),
    client.ops.mutate('Logical_Switch', [byUuid(sw)], [['ports', 'insert', [name]]]),
  ];
}

async function main(): Promise<void> {
  const ovn = await OvnCentral.start({ northd: false });
  try {
    const writer = await OvsdbClient.connect({ model: nb.model, remotes: ovn.nbRemote, tables: TABLES });
    const [sw] = await writer.transact([writer.ops.insert('Logical_Switch', { name: 'node1' })]);
    const swUuid = sw!.uuid!;

    // Bulk load in transactions of 100 ports.
    let t0 = performance.now();
    for (let i = 0; i < PORTS; i += 100) {
      const ops: Operation[] = [];
      for (let j = i; j < Math.min(PORTS, i + 100); j++) {
        // Each port gets its own uuid-name so that 100 of them fit in one transaction.
        const [insert, addToSwitch] = portOps(writer, swUuid, j, `p${j}`);
        ops.push(insert!, addToSwitch!);
      }
      await writer.transact(ops);
    }
    console.log(
      `bulk insert: ${PORTS} ports in ${((performance.now() - t0) / 1000).toFixed(2)} s (100 per transaction)`,
    );

    // A second client: full sync time and the heap its cache takes. The first sync in the process
    // also pays for JIT warm-up; the second shows the steady figure.
    const connectReader = () =>
      OvsdbClient.connect({
        model: nb.model,
        remotes: ovn.nbRemote,
        tables: TABLES,
        indexes: { Logical_Switch_Port: ['capk-podnet/machine'] },
      });
    t0 = performance.now();
    await (await connectReader()).close();
    const coldMs = performance.now() - t0;
    t0 = performance.now();
    const reader = await connectReader();
    const syncMs = performance.now() - t0;
    // The cache's own heap: what a gc frees once a synced client is closed and dropped.
    let extra: OvsdbClient<nb.Tables> | undefined = await connectReader();
    gc();
    const heapWith = process.memoryUsage().heapUsed;
    await extra.close();
    extra = undefined;
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const heapWithout = process.memoryUsage().heapUsed;
    const [heapAfter, heapBefore] = [heapWith, heapWithout];
    const cached = reader.cache.size('Logical_Switch_Port');
    console.log(
      `connect + full sync of ${cached} ports: ${coldMs.toFixed(1)} ms cold, ${syncMs.toFixed(1)} ms warm; ` +
        `one synced client's heap ${((heapAfter - heapBefore) / 1024 / 1024).toFixed(2)} MiB ` +
        `(${((heapAfter - heapBefore) / cached / 1024).toFixed(2)} KiB/port incl. index)` +
        ((globalThis as { gc?: unknown }).gc ? '' : ' [run with --expose-gc for a stable heap figure]'),
    );

    // The driver's typical write, one at a time, and how long until another client's cache has it.
    const latencies: number[] = [];
    const propagation: number[] = [];
    let inCacheAtReply = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const n = PORTS + i;
      const seen = new Promise<number>((resolve) => {
        const on = () => {
          if (reader.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/machine', `ns/m-${n}`).length) {
            reader.off('change', on);
            resolve(performance.now());
          }
        };
        reader.on('change', on);
      });
      const start = performance.now();
      const [r] = await writer.transact(portOps(writer, swUuid, n));
      latencies.push(performance.now() - start);
      if (writer.cache.get('Logical_Switch_Port', r!.uuid!)) inCacheAtReply++;
      propagation.push((await seen) - start);
    }
    console.log(`transact (insert port + add to switch): ${percentiles(latencies)}`);
    console.log(`  writer's own cache had the row when transact resolved: ${inCacheAtReply}/${SAMPLES}`);
    console.log(`write → second client's cache: ${percentiles(propagation)}`);

    // Lookups over the cache.
    const total = reader.cache.size('Logical_Switch_Port');
    const lookups = 10_000;
    t0 = performance.now();
    for (let i = 0; i < lookups; i++)
      reader.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/machine', `ns/m-${i % total}`);
    const indexedUs = ((performance.now() - t0) * 1000) / lookups;
    t0 = performance.now();
    for (let i = 0; i < 1_000; i++)
      reader.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/kind', 'port');
    const scanUs = ((performance.now() - t0) * 1000) / 1_000;
    console.log(
      `lookup by external_ids over ${total} ports: indexed ${indexedUs.toFixed(2)} µs, unindexed scan ${scanUs.toFixed(1)} µs`,
    );

    await reader.close();
    await writer.close();
  } finally {
    await ovn.stop();
  }
}

await main();
