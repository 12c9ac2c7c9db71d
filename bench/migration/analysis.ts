// Downtime of live-migration cutovers, from the two probe reports of test/datapath/apps/probe.mjs.
// Pure: the harness and the benchmark do the I/O. The probe client runs in a pod and the server in
// the tenant VM, so the client's UDP receipts are the VM→pod direction and the server's pod→VM.
// Downtime is the network's: time a sender was not scheduled (a busy two-core machine) is taken
// out of a gap, and reported beside it as senderStallMs.

/** [seq, receive time, send time] in epoch ms; the send time is absent from older reports. */
export type ReceivedProbe = readonly [seq: number, recvAtMs: number, sentAtMs?: number];

export interface ProbeStreamError {
  code: string;
  atMs: number;
}

/** The JSON report probe.mjs prints on stop (fields the analysis does not read are optional). */
export interface ProbeReport {
  role: 'client' | 'server';
  intervalMs?: number;
  target?: string;
  startedAtMs: number;
  readyAtMs?: number;
  stoppedAtMs: number;
  udp: {
    sent: number;
    sendErrors?: number;
    lastSendError?: string;
    lastSentAtMs?: number;
    received: ReceivedProbe[];
    errors?: ProbeStreamError[];
    peer?: string;
  };
  tcp: {
    bytesSent: number;
    bytesVerified: number;
    mismatchAt?: number;
    errors: ProbeStreamError[];
    closed: boolean;
    closedAtMs?: number;
    connections?: number;
    maxRecvGapMs?: number;
    maxRecvGapEndMs?: number;
  };
  bulk: {
    bytesSent?: number;
    bytesReceived?: number;
    patternOk: boolean;
    mismatchAt?: number;
    errors?: ProbeStreamError[];
    closed?: boolean;
    closedAtMs?: number;
    connections?: number;
  };
}

export interface CutoverMark {
  index: number;
  atMs: number;
  label: string;
}

export type Direction = 'podToVm' | 'vmToPod';
export const DIRECTIONS: readonly Direction[] = ['podToVm', 'vmToPod'];
export const DIRECTION_LABEL: Record<Direction, string> = { podToVm: 'pod→VM', vmToPod: 'VM→pod' };

export interface DirectionOutage {
  /**
   * The network's outage: of the receive gaps touching the window (last probe before to the first
   * after), the largest once the time its sender was not sending is taken out (senderStallMs).
   */
  downtimeMs: number;
  /**
   * Of that gap, the time the sender was not scheduled (sent the two probes around it further apart
   * than their seqs say); 0 without send times. Not network time, so not in downtimeMs.
   */
  senderStallMs: number;
  /** Receive time of the last probe before the gap (absolute); null when nothing came before it. */
  gapStartMs: number | null;
  /** Receive time of the first probe after the gap; null when the stream had not recovered. */
  gapEndMs: number | null;
  recovered: boolean;
  /**
   * False when the probes do not reach the window (the mark lies before the first probe arrived or
   * after the stream ended): downtimeMs is then NaN and the cutover is left out of the percentiles.
   */
  measured: boolean;
  /**
   * How far apart the two probes around the gap were sent (null when the report has no send times).
   * A regular sender sends them (lost + 1) intervals apart: more than that is time the sender was
   * not scheduled (a busy machine, not the network); much less than downtimeMs means the network
   * held the probes back (queued, not dropped).
   */
  senderGapMs: number | null;
  /** Seqs missing in the window (estimated send time inside it). */
  lost: number;
  lostSeqs: number[];
  receivedInWindow: number;
  /** For plots: receive times in the window, relative to the mark. */
  receivedRelMs: number[];
  /** For plots: estimated times of the lost seqs, relative to the mark. */
  lostRelMs: number[];
}

export interface CutoverAnalysis {
  index: number;
  label: string;
  atMs: number;
  podToVm: DirectionOutage;
  vmToPod: DirectionOutage;
  /** The worse direction of this cutover: what a bidirectional protocol sees. */
  combinedDowntimeMs: number;
}

export interface DowntimeStats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface MigrationAnalysis {
  intervalMs: number;
  windowBeforeMs: number;
  windowAfterMs: number;
  cutovers: CutoverAnalysis[];
  stats: Record<Direction | 'combined', DowntimeStats>;
}

export interface AnalysisInput {
  /** The probe client's report (in the pod): its receipts are VM→pod. */
  client: ProbeReport;
  /** The probe server's report (in the VM): its receipts are pod→VM. */
  server: ProbeReport;
  intervalMs: number;
  marks: readonly CutoverMark[];
  /** Window searched around each mark; defaults 1000 ms before, 3000 ms after. */
  windowBeforeMs?: number;
  windowAfterMs?: number;
}

export interface ReceiveGap {
  fromMs: number;
  toMs: number;
  gapMs: number;
  /** Seqs missing between the two probes around the gap. */
  lost: number;
  /** See DirectionOutage.senderGapMs. */
  senderGapMs: number | null;
}

/** Nearest-rank percentile (p in 0..100); NaN for no values. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} outside 0..100`);
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** Over the measured values (NaN ones, marks outside the probe run, are left out). */
export function downtimeStats(values: readonly number[]): DowntimeStats {
  const xs = values.filter((x) => !Number.isNaN(x));
  return {
    n: xs.length,
    p50: percentile(xs, 50),
    p95: percentile(xs, 95),
    p99: percentile(xs, 99),
    max: xs.length === 0 ? NaN : Math.max(...xs),
  };
}

/** One direction's receipts, deduplicated by seq (a duplicate says nothing about reachability). */
interface Stream {
  /** Sorted by receive time, and their receive times. */
  byTime: ReceivedProbe[];
  times: number[];
  /** Sorted by seq, with the receive time of each. */
  bySeq: ReceivedProbe[];
  /** When the sender stopped (or the receiver stopped listening): later silence is no outage. */
  endMs: number;
}

function toStream(received: readonly ReceivedProbe[], endMs: number): Stream {
  const first = new Map<number, ReceivedProbe>();
  for (const probe of received) {
    const seen = first.get(probe[0]);
    if (seen === undefined || probe[1] < seen[1]) first.set(probe[0], probe);
  }
  const bySeq = [...first.values()].sort((a, b) => a[0] - b[0]);
  const byTime = [...bySeq].sort((a, b) => a[1] - b[1]);
  return { byTime, times: byTime.map((p) => p[1]), bySeq, endMs };
}

/** How much longer than their seqs say the two probes were sent apart: the sender was not running. */
function senderStall(a: ReceivedProbe | undefined, b: ReceivedProbe | undefined, intervalMs: number): number {
  const gap = senderGap(a, b);
  return gap === null ? 0 : Math.max(0, gap - (b![0] - a![0]) * intervalMs);
}

function senderGap(a: ReceivedProbe | undefined, b: ReceivedProbe | undefined): number | null {
  return a?.[2] === undefined || b?.[2] === undefined ? null : b[2] - a[2];
}

/** First index whose value is >= x (xs.length when none). */
function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is > x (xs.length when none). */
function upperBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Silence after the last receipt counts only beyond two intervals: one may be in flight at the end. */
function tailSilence(stream: Stream, intervalMs: number): number {
  const lastAt = stream.times[stream.times.length - 1];
  if (lastAt === undefined) return 0;
  const tail = stream.endMs - lastAt;
  return tail > 2 * intervalMs ? tail : 0;
}

/** Lost seqs with an estimated time: spread evenly between the receipts around them. */
function lostWithTimes(stream: Stream, intervalMs: number): Array<[seq: number, atMs: number]> {
  const out: Array<[number, number]> = [];
  const { bySeq } = stream;
  for (let i = 1; i < bySeq.length; i++) {
    const [sa, ta] = bySeq[i - 1] as ReceivedProbe;
    const [sb, tb] = bySeq[i] as ReceivedProbe;
    const step = (tb - ta) / (sb - sa);
    for (let k = sa + 1; k < sb; k++) out.push([k, ta + (k - sa) * step]);
  }
  // After the last receipt the sender went on sending into the outage; the last of those may
  // just have been in flight, so this counts one fewer (a lower bound).
  const last = bySeq[bySeq.length - 1];
  const tail = tailSilence(stream, intervalMs);
  if (last && tail > 0) {
    const missing = Math.floor(tail / intervalMs) - 1;
    for (let k = 1; k <= missing; k++) out.push([last[0] + k, last[1] + k * intervalMs]);
  }
  return out;
}

function analyzeDirection(
  stream: Stream,
  lost: ReadonlyArray<readonly [number, number]>,
  intervalMs: number,
  markMs: number,
  fromMs: number,
  toMs: number,
): DirectionOutage {
  const { times } = stream;
  const to = Math.min(toMs, stream.endMs);
  let best = {
    gap: 0,
    stall: 0,
    start: null as number | null,
    end: null as number | null,
    recovered: true,
    at: -1,
  };
  // Gaps between consecutive receipts that overlap the window, so an outage that began before the
  // window still counts from its real start.
  const firstIn = lowerBound(times, fromMs);
  for (let i = Math.max(1, firstIn); i < times.length; i++) {
    const a = times[i - 1] as number;
    const b = times[i] as number;
    if (a > to) break;
    const stall = senderStall(stream.byTime[i - 1], stream.byTime[i], intervalMs);
    const outage = b - a - stall;
    // On a tie, the longer gap: a stall is then reported where it happened.
    const tie = Math.abs(outage - best.gap) < 0.5 && b - a > best.gap + best.stall;
    if (outage > best.gap + 0.5 || tie)
      best = { gap: outage, stall, start: a, end: b, recovered: true, at: i };
  }
  const lastAt = times[times.length - 1];
  const tail = tailSilence(stream, intervalMs);
  if (lastAt === undefined) {
    // Nothing ever arrived: the whole window was down.
    best = { gap: Math.max(0, to - fromMs), stall: 0, start: null, end: null, recovered: false, at: -1 };
  } else if (lastAt <= to && tail > best.gap) {
    // Silence until the end of the stream: the outage never ended.
    best = { gap: tail, stall: 0, start: lastAt, end: null, recovered: false, at: -1 };
  }

  // A mark outside the probe run is the caller's mistake; a 0 ms downtime would hide it.
  const firstAt = times[0];
  const measured = firstAt === undefined || (firstAt <= to && to >= fromMs);
  if (!measured) best = { gap: NaN, stall: 0, start: null, end: null, recovered: false, at: -1 };

  const inWindow = times.slice(firstIn, upperBound(times, to));
  const lostIn = lost.filter(([, at]) => at >= fromMs && at <= to);
  return {
    downtimeMs: best.gap,
    senderStallMs: best.stall,
    gapStartMs: best.start,
    gapEndMs: best.end,
    recovered: best.recovered,
    measured,
    senderGapMs: best.at < 0 ? null : senderGap(stream.byTime[best.at - 1], stream.byTime[best.at]),
    lost: lostIn.length,
    lostSeqs: lostIn.map(([seq]) => seq),
    receivedInWindow: inWindow.length,
    receivedRelMs: inWindow.map((t) => round1(t - markMs)),
    lostRelMs: lostIn.map(([, t]) => round1(t - markMs)),
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export function analyzeMigration(input: AnalysisInput): MigrationAnalysis {
  const windowBeforeMs = input.windowBeforeMs ?? 1000;
  const windowAfterMs = input.windowAfterMs ?? 3000;
  const { client, server, intervalMs } = input;
  // pod→VM is sent by the client until its stop; VM→pod is sent by the server but only heard
  // until the client stops listening.
  const clientSendEnd = client.udp.lastSentAtMs ?? client.stoppedAtMs;
  const serverSendEnd = server.udp.lastSentAtMs ?? server.stoppedAtMs;
  const streams: Record<Direction, Stream> = {
    podToVm: toStream(server.udp.received, Math.min(clientSendEnd, server.stoppedAtMs)),
    vmToPod: toStream(client.udp.received, Math.min(serverSendEnd, client.stoppedAtMs)),
  };
  const lost = {
    podToVm: lostWithTimes(streams.podToVm, intervalMs),
    vmToPod: lostWithTimes(streams.vmToPod, intervalMs),
  };
  const cutovers = [...input.marks]
    .sort((a, b) => a.index - b.index)
    .map((m): CutoverAnalysis => {
      const from = m.atMs - windowBeforeMs;
      const to = m.atMs + windowAfterMs;
      const podToVm = analyzeDirection(streams.podToVm, lost.podToVm, intervalMs, m.atMs, from, to);
      const vmToPod = analyzeDirection(streams.vmToPod, lost.vmToPod, intervalMs, m.atMs, from, to);
      return {
        index: m.index,
        label: m.label,
        atMs: m.atMs,
        podToVm,
        vmToPod,
        combinedDowntimeMs: Math.max(podToVm.downtimeMs, vmToPod.downtimeMs),
      };
    });
  return {
    intervalMs,
    windowBeforeMs,
    windowAfterMs,
    cutovers,
    stats: {
      podToVm: downtimeStats(cutovers.map((c) => c.podToVm.downtimeMs)),
      vmToPod: downtimeStats(cutovers.map((c) => c.vmToPod.downtimeMs)),
      combined: downtimeStats(cutovers.map((c) => c.combinedDowntimeMs)),
    },
  };
}

/** Every receive gap longer than thresholdMs over a whole stream, in time order. */
export function receiveGaps(received: readonly ReceivedProbe[], thresholdMs: number): ReceiveGap[] {
  const { byTime } = toStream(received, -Infinity);
  const out: ReceiveGap[] = [];
  for (let i = 1; i < byTime.length; i++) {
    const a = byTime[i - 1] as ReceivedProbe;
    const b = byTime[i] as ReceivedProbe;
    if (b[1] - a[1] <= thresholdMs) continue;
    out.push({
      fromMs: a[1],
      toMs: b[1],
      gapMs: b[1] - a[1],
      lost: Math.max(0, b[0] - a[0] - 1),
      senderGapMs: senderGap(a, b),
    });
  }
  return out;
}

function fmt(x: number, width: number, digits = 1): string {
  return (Number.isFinite(x) ? x.toFixed(digits) : '-').padStart(width);
}

/** Cutover marks from a guest's switch-overs, in order, labelled by where it went. */
export function cutoverMarks(
  switchovers: readonly { atMs: number; from: string; to: string }[],
  label: (from: string, to: string) => string = (from, to) => `${from} → ${to}`,
): CutoverMark[] {
  return switchovers.map((s, index) => ({ index, atMs: s.atMs, label: label(s.from, s.to) }));
}

export interface TcpOutcome {
  /** Every error either end saw, on the echo and on the bulk stream. */
  errors: ProbeStreamError[];
  resets: number;
  /** One connection each, never broken: nothing failed, nothing closed early, every byte as sent. */
  intact: boolean;
}

export function tcpOutcome(client: ProbeReport, server: ProbeReport): TcpOutcome {
  const errors = [
    ...client.tcp.errors,
    ...server.tcp.errors,
    ...(client.bulk.errors ?? []),
    ...(server.bulk.errors ?? []),
  ];
  return {
    errors,
    resets: errors.filter((e) => e.code === 'ECONNRESET').length,
    intact:
      errors.length === 0 &&
      !client.tcp.closed &&
      client.tcp.mismatchAt === undefined &&
      client.bulk.patternOk &&
      server.bulk.patternOk,
  };
}

/** A fixed-width table: one row per cutover, then p50/p95/p99/max per direction and combined. */
export function formatTable(analysis: MigrationAnalysis): string {
  const head =
    '   #  label                 pod→VM ms  lost  VM→pod ms  lost  worst ms' +
    '\n' +
    '  --  --------------------  ---------  ----  ---------  ----  --------';
  const mark = (o: DirectionOutage) => (!o.measured ? '?' : o.recovered ? ' ' : '!');
  const rows = analysis.cutovers.map((c) => {
    const label = c.label.length > 20 ? c.label.slice(0, 19) + '…' : c.label;
    return (
      String(c.index).padStart(4) +
      '  ' +
      label.padEnd(20) +
      '  ' +
      fmt(c.podToVm.downtimeMs, 8) +
      mark(c.podToVm) +
      '  ' +
      String(c.podToVm.lost).padStart(4) +
      '  ' +
      fmt(c.vmToPod.downtimeMs, 8) +
      mark(c.vmToPod) +
      '  ' +
      String(c.vmToPod.lost).padStart(4) +
      '  ' +
      fmt(c.combinedDowntimeMs, 8)
    );
  });
  const { stats } = analysis;
  // Same columns as the rows: the figure under the downtime, nothing under "lost".
  const statRows = (['p50', 'p95', 'p99', 'max'] as const).map(
    (k) =>
      '      ' +
      `${k} of ${stats.combined.n}`.padEnd(20) +
      '  ' +
      fmt(stats.podToVm[k], 8) +
      ' '.repeat(9) +
      fmt(stats.vmToPod[k], 8) +
      ' '.repeat(9) +
      fmt(stats.combined[k], 8),
  );
  const outages = analysis.cutovers.flatMap((c) => [c.podToVm, c.vmToPod]);
  const foot = [
    ...(outages.some((o) => o.measured && !o.recovered)
      ? ['  ! the stream had not recovered by the end of the window']
      : []),
    ...(outages.some((o) => !o.measured)
      ? ['  ? no probes around this mark: it lies outside the probe run']
      : []),
  ];
  return [head, ...rows, '', ...statRows, ...foot].join('\n') + '\n';
}
