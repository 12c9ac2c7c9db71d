import {
  analyzeMigration,
  cutoverMarks,
  downtimeStats,
  formatTable,
  percentile,
  receiveGaps,
  tcpOutcome,
  type ProbeReport,
  type ReceivedProbe,
} from './analysis.js';

const T0 = 1_800_000_000_000;
const IV = 5;
const LATENCY = 0.3;

/** Probes seq 0..count-1 sent every IV from T0, minus those sent during [from, to) of any outage. */
function stream(count: number, outages: Array<[fromMs: number, toMs: number]> = []): ReceivedProbe[] {
  const out: ReceivedProbe[] = [];
  for (let seq = 0; seq < count; seq++) {
    const sentAt = T0 + seq * IV;
    if (outages.some(([a, b]) => sentAt >= a && sentAt < b)) continue;
    out.push([seq, sentAt + LATENCY, sentAt]);
  }
  return out;
}

function report(
  role: 'client' | 'server',
  received: ReceivedProbe[],
  stoppedAtMs: number,
  lastSentAtMs?: number,
) {
  return {
    role,
    startedAtMs: T0 - 100,
    stoppedAtMs,
    udp: { sent: 0, received, ...(lastSentAtMs !== undefined ? { lastSentAtMs } : {}) },
    tcp: { bytesSent: 0, bytesVerified: 0, errors: [], closed: false },
    bulk: { patternOk: true },
  } satisfies ProbeReport;
}

const END = T0 + 2000 * IV; // 10 s of probes
const mark = (index: number, atMs: number, label = `m${index}`) => ({ index, atMs, label });

describe('percentile (nearest rank)', () => {
  it('picks the value at rank ceil(p/100 · n) of the sorted values', () => {
    const xs = [50, 15, 40, 20, 35];
    expect(percentile(xs, 0)).toBe(15);
    expect(percentile(xs, 30)).toBe(20);
    expect(percentile(xs, 40)).toBe(20);
    expect(percentile(xs, 50)).toBe(35);
    expect(percentile(xs, 95)).toBe(50);
    expect(percentile(xs, 100)).toBe(50);
    expect(xs).toEqual([50, 15, 40, 20, 35]);
  });

  it('is NaN for no values and refuses a p outside 0..100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], NaN)).toThrow(RangeError);
  });

  it('summarises p50/p95/p99/max', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(downtimeStats(xs)).toEqual({ n: 100, p50: 50, p95: 95, p99: 99, max: 100 });
    expect(downtimeStats([]).max).toBeNaN();
  });
});

describe('analyzeMigration', () => {
  it('measures one outage per direction from the last probe before it to the first after', () => {
    const at = T0 + 5000;
    const analysis = analyzeMigration({
      client: report('client', stream(2000, [[at + 10, at + 60]]), END, END),
      server: report('server', stream(2000, [[at, at + 100]]), END, END),
      intervalMs: IV,
      marks: [mark(0, at)],
    });
    const [c] = analysis.cutovers;
    // pod→VM: seqs 1000..1019 lost, so 999 and 1020 bracket the outage.
    expect(c?.podToVm).toMatchObject({
      lost: 20,
      recovered: true,
      gapStartMs: T0 + 999 * IV + LATENCY,
      gapEndMs: T0 + 1020 * IV + LATENCY,
    });
    expect(c?.podToVm.downtimeMs).toBeCloseTo(105, 3);
    // A regular sender: the probes around the gap were sent (lost + 1) intervals apart.
    expect(c?.podToVm.senderGapMs).toBeCloseTo(21 * IV, 3);
    expect(c?.podToVm.lostSeqs).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i));
    expect(c?.vmToPod.downtimeMs).toBeCloseTo(55, 3);
    expect(c?.vmToPod.lost).toBe(10);
    expect(c?.combinedDowntimeMs).toBeCloseTo(105, 3);
    // Lost probes are placed where they would have arrived, relative to the mark.
    expect(c?.podToVm.lostRelMs[0]).toBeCloseTo(LATENCY, 1);
    expect(c?.podToVm.lostRelMs[19]).toBeCloseTo(95 + LATENCY, 1);
    expect(c?.podToVm.receivedInWindow).toBe(800 - 20);
    expect(c?.podToVm.receivedRelMs[0]).toBeGreaterThanOrEqual(-1000);
  });

  it('looks only in the window around each mark, and counts an outage begun before it from its start', () => {
    const at = T0 + 5000;
    const received = stream(2000, [
      [at - 1050, at - 900], // straddles the window start (mark − 1 s)
      [at + 4000, at + 4500], // after the window (mark + 3 s)
    ]);
    const analysis = analyzeMigration({
      client: report('client', received, END, END),
      server: report('server', received, END, END),
      intervalMs: IV,
      marks: [mark(0, at)],
    });
    const c = analysis.cutovers[0];
    expect(c?.podToVm.downtimeMs).toBeCloseTo(155, 3);
    expect(c?.podToVm.gapStartMs).toBeLessThan(at - 1000);
    // Only the lost seqs sent inside the window are counted.
    expect(c?.podToVm.lost).toBe(20);
  });

  it('ignores duplicated and reordered probes', () => {
    const at = T0 + 5000;
    const received = stream(2000, [[at, at + 50]]);
    const i = received.findIndex(([seq]) => seq === 900);
    const swapped = [...received];
    [swapped[i], swapped[i + 1]] = [swapped[i + 1] as ReceivedProbe, swapped[i] as ReceivedProbe];
    swapped.push([905, T0 + 905 * IV + 40]);
    const analysis = analyzeMigration({
      client: report('client', swapped, END, END),
      server: report('server', received, END, END),
      intervalMs: IV,
      marks: [mark(0, at)],
    });
    const c = analysis.cutovers[0];
    expect(c?.vmToPod.downtimeMs).toBeCloseTo(c?.podToVm.downtimeMs ?? NaN, 3);
    expect(c?.vmToPod.lost).toBe(10);
  });

  it('reports an outage that never ended as not recovered, up to the end of the stream', () => {
    const at = T0 + 5000;
    const analysis = analyzeMigration({
      client: report('client', stream(2000), END, END),
      server: report('server', stream(2000, [[at + 50, Infinity]]), END, END),
      intervalMs: IV,
      marks: [mark(0, at)],
    });
    const c = analysis.cutovers[0];
    expect(c?.podToVm.recovered).toBe(false);
    expect(c?.podToVm.gapEndMs).toBeNull();
    expect(c?.podToVm.downtimeMs).toBeCloseTo(END - (T0 + 1009 * IV + LATENCY), 3);
    expect(c?.vmToPod.recovered).toBe(true);
    expect(formatTable(analysis)).toContain('!');
  });

  it('does not take the end of the run for an outage', () => {
    // The client stops first; the server keeps sending and is stopped 2 s later.
    const clientStop = T0 + 1000 * IV + 2;
    const at = clientStop - 500;
    const analysis = analyzeMigration({
      client: report('client', stream(1000), clientStop, T0 + 999 * IV),
      server: report('server', stream(1000), clientStop + 2000, clientStop + 2000),
      intervalMs: IV,
      marks: [mark(0, at)],
    });
    const c = analysis.cutovers[0];
    expect(c?.podToVm).toMatchObject({ recovered: true, lost: 0 });
    expect(c?.vmToPod).toMatchObject({ recovered: true, lost: 0 });
    expect(c?.combinedDowntimeMs).toBeCloseTo(IV, 3);
  });

  it('gives p50/p95/p99/max over cutovers per direction and of the worse direction', () => {
    const marks = [1000, 3000, 5000, 7000].map((ms, i) => mark(i, T0 + ms));
    const podOut = [50, 100, 20, 200];
    const vmOut = [100, 50, 300, 20];
    const outages = (lens: number[]) =>
      marks.map((m, i): [number, number] => [m.atMs, m.atMs + (lens[i] ?? 0)]);
    const analysis = analyzeMigration({
      client: report('client', stream(2000, outages(vmOut)), END, END),
      server: report('server', stream(2000, outages(podOut)), END, END),
      intervalMs: IV,
      marks: [...marks].reverse(),
      windowAfterMs: 1500,
      windowBeforeMs: 100,
    });
    expect(analysis.cutovers.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const r = (x: number) => Math.round(x);
    expect(analysis.cutovers.map((c) => r(c.podToVm.downtimeMs))).toEqual([55, 105, 25, 205]);
    expect(analysis.cutovers.map((c) => r(c.combinedDowntimeMs))).toEqual([105, 105, 305, 205]);
    expect(r(analysis.stats.podToVm.p50)).toBe(55);
    expect(r(analysis.stats.vmToPod.p95)).toBe(305);
    expect(r(analysis.stats.combined.p50)).toBe(105);
    expect(r(analysis.stats.combined.max)).toBe(305);
    expect(analysis.stats.combined.n).toBe(4);
  });
});

describe('a mark outside the probe run', () => {
  it('is not measured, shown as such and left out of the percentiles', () => {
    const received = stream(2000, [[T0 + 5000, T0 + 5100]]);
    const analysis = analyzeMigration({
      client: report('client', received, END, END),
      server: report('server', received, END, END),
      intervalMs: IV,
      marks: [mark(0, T0 - 5000, 'too early'), mark(1, T0 + 5000), mark(2, END + 4000, 'too late')],
    });
    const [early, ok, late] = analysis.cutovers;
    for (const c of [early, late]) {
      expect(c?.podToVm).toMatchObject({ measured: false, recovered: false, lost: 0, receivedInWindow: 0 });
      expect(c?.podToVm.downtimeMs).toBeNaN();
      expect(c?.combinedDowntimeMs).toBeNaN();
    }
    expect(ok?.podToVm.measured).toBe(true);
    expect(analysis.stats.combined.n).toBe(1);
    expect(analysis.stats.combined.max).toBeCloseTo(105, 3);
    const table = formatTable(analysis);
    expect(table).toMatch(/too early\s+-\?\s+0\s+-\?\s+0\s+-\n/);
    expect(table).toContain('? no probes around this mark');
  });
});

describe('the send times', () => {
  it('tell a sender that was not scheduled and a network that held probes back from an outage', () => {
    const at = T0 + 5000;
    // The client (pod→VM sender) stalls 80 ms: nothing lost, the next probes go out late.
    const stalled = stream(2000).map(([seq, recv, sent]): ReceivedProbe => {
      const late = seq >= 1000 && sent !== undefined && sent < at + 80 ? at + 80 - sent : 0;
      return [seq, recv + late, (sent ?? 0) + late];
    });
    // VM→pod probes queued for 80 ms and then delivered at once.
    const queued = stream(2000).map(([seq, recv, sent]): ReceivedProbe => [
      seq,
      seq >= 1000 && recv < at + 80 ? at + 80 : recv,
      sent,
    ]);
    const analysis = analyzeMigration({
      client: report('client', queued, END, END),
      server: report('server', stalled, END, END),
      intervalMs: IV,
      marks: [mark(0, at)],
    });
    const c = analysis.cutovers[0];
    expect(c?.podToVm.lost).toBe(0);
    // A sender that was not running is no network outage: only the one interval remains.
    expect(c?.podToVm.downtimeMs).toBeCloseTo(IV, 3);
    expect(c?.podToVm.senderStallMs).toBeCloseTo(80, 3);
    expect(c?.podToVm.senderGapMs).toBeCloseTo(85, 3);
    expect(c?.vmToPod.lost).toBe(0);
    expect(c?.vmToPod.downtimeMs).toBeCloseTo(85 - LATENCY, 3);
    expect(c?.vmToPod.senderStallMs).toBe(0);
    expect(c?.vmToPod.senderGapMs).toBeCloseTo(IV, 3);
    expect(receiveGaps(stalled, 20)).toMatchObject([{ lost: 0, senderGapMs: expect.closeTo(85, 3) }]);
  });

  it('are optional: older reports give no sender gap', () => {
    const received = stream(2000, [[T0 + 5000, T0 + 5100]]).map(([seq, recv]): ReceivedProbe => [seq, recv]);
    const analysis = analyzeMigration({
      client: report('client', received, END, END),
      server: report('server', received, END, END),
      intervalMs: IV,
      marks: [mark(0, T0 + 5000)],
    });
    expect(analysis.cutovers[0]?.podToVm.senderGapMs).toBeNull();
    expect(analysis.cutovers[0]?.podToVm.downtimeMs).toBeCloseTo(105, 3);
  });
});

describe('receiveGaps', () => {
  it('lists every gap above the threshold with the seqs lost in it', () => {
    const gaps = receiveGaps(
      stream(2000, [
        [T0 + 1000, T0 + 1100],
        [T0 + 6000, T0 + 6010],
      ]),
      20,
    );
    expect(gaps).toHaveLength(1);
    expect(gaps[0]?.lost).toBe(20);
    expect(gaps[0]?.gapMs).toBeCloseTo(105, 3);
    expect(receiveGaps(stream(2000, [[T0 + 6000, T0 + 6010]]), 10)).toHaveLength(1);
  });
});

describe('formatTable', () => {
  it('lines every row up under the header and prints the percentiles', () => {
    const at = T0 + 5000;
    const analysis = analyzeMigration({
      client: report('client', stream(2000, [[at, at + 40]]), END, END),
      server: report('server', stream(2000, [[at, at + 100]]), END, END),
      intervalMs: IV,
      marks: [mark(0, at, 'a rather long cutover label'), mark(1, at + 4000, 'second')],
    });
    const lines = formatTable(analysis).trimEnd().split('\n');
    const width = lines[0]?.length;
    expect(lines.filter((l) => l !== '').every((l) => l.length === width)).toBe(true);
    expect(lines[2]).toMatch(/^ {3}0 {2}a rather long cutov… +105\.0 +20 +45\.0 +8 +105\.0$/);
    expect(lines.find((l) => l.includes('p50 of 2'))).toMatch(/5\.0\s+5\.0\s+5\.0$/);
    expect(lines.find((l) => l.includes('max of 2'))).toMatch(/105\.0\s+45\.0\s+105\.0$/);
  });

  it('prints a dash for figures over no cutovers', () => {
    const analysis = analyzeMigration({
      client: report('client', [], END),
      server: report('server', [], END),
      intervalMs: IV,
      marks: [],
    });
    expect(formatTable(analysis)).toMatch(/p50 of 0\s+-\s+-\s+-/);
  });
});

describe('tcpOutcome', () => {
  const clean = () => report('client', [], END);
  it('is intact when neither end saw an error and every byte came back as sent', () => {
    expect(tcpOutcome(clean(), report('server', [], END))).toEqual({ errors: [], resets: 0, intact: true });
  });
  it.each<[string, (c: ProbeReport, s: ProbeReport) => void, number]>([
    ['a reset on the echo', (c) => c.tcp.errors.push({ code: 'ECONNRESET', atMs: T0 }), 1],
    [
      'a reset the server saw on the bulk stream',
      (_, s) => (s.bulk.errors = [{ code: 'ECONNRESET', atMs: T0 }]),
      1,
    ],
    ['an early close', (c) => (c.tcp.closed = true), 0],
    ['a byte out of pattern', (c) => (c.tcp.mismatchAt = 100), 0],
    ['a broken bulk pattern', (_, s) => (s.bulk.patternOk = false), 0],
    ['another error', (c) => c.tcp.errors.push({ code: 'EOF', atMs: T0 }), 0],
  ])('is broken by %s', (_name, spoil, resets) => {
    const c = clean();
    const s = report('server', [], END);
    spoil(c, s);
    expect(tcpOutcome(c, s)).toMatchObject({ intact: false, resets });
  });
});

describe('cutoverMarks', () => {
  it('numbers the switch-overs in order and labels them by their nodes', () => {
    const sw = [
      { atMs: 1, from: 'n1', to: 'n2' },
      { atMs: 2, from: 'n2', to: 'n1' },
    ];
    expect(cutoverMarks(sw)).toEqual([mark(0, 1, 'n1 → n2'), mark(1, 2, 'n2 → n1')]);
    expect(cutoverMarks(sw, (f, t) => `${f}>${t}`)[1]).toEqual(mark(1, 2, 'n2>n1'));
  });
});
