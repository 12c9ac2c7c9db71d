// Probe loss around each cutover as a self-contained SVG (and an HTML page around it), so a
// benchmark run can be looked at without any plotting library or network access.
import {
  DIRECTIONS,
  DIRECTION_LABEL,
  type CutoverAnalysis,
  type DirectionOutage,
  type DowntimeStats,
  type MigrationAnalysis,
} from './analysis.js';

export interface PlotOptions {
  /** Time range of each panel relative to its mark; default −300 … +500 ms. */
  fromMs?: number;
  toMs?: number;
  /** Tick spacing on the time axis; default 100 ms. */
  tickMs?: number;
  /** Panels per row; default 2 (1 when there is a single cutover). */
  columns?: number;
  panelWidth?: number;
}

export interface HtmlMeta {
  title: string;
  /** Free-form facts shown above the plot (run id, topology, interval…). */
  facts?: Record<string, string | number | boolean>;
}

const PANEL_HEIGHT = 112;
const HEADER_HEIGHT = 30;
const LEFT = 58;
const RIGHT = 20;
const ROW_Y: Record<(typeof DIRECTIONS)[number], number> = { podToVm: 34, vmToPod: 56 };
const ROW_H = 14;
const AXIS_Y = 78;
const RED = '#d62728';

const ENTITY: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ENTITY[c] ?? c);
}

const n1 = (x: number) => (Math.round(x * 10) / 10).toString();
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '–');

function directionSummary(o: DirectionOutage): string {
  if (!o.measured) return 'no probes around the mark';
  return `${ms(o.downtimeMs)}${o.recovered ? '' : ' (not recovered)'}, ${o.lost} lost`;
}

function panel(c: CutoverAnalysis, x0: number, y0: number, width: number, o: Required<PlotOptions>): string {
  const plotW = width - LEFT - RIGHT;
  const x = (rel: number) => LEFT + ((rel - o.fromMs) / (o.toMs - o.fromMs)) * plotW;
  const inRange = (rel: number) => rel >= o.fromMs && rel <= o.toMs;
  const clamp = (rel: number) => Math.min(o.toMs, Math.max(o.fromMs, rel));
  const parts: string[] = [];
  parts.push(`<g class="panel" data-index="${c.index}" transform="translate(${x0},${y0})">`);
  parts.push(
    `<rect x="0.5" y="0.5" width="${width - 1}" height="${PANEL_HEIGHT - 1}" fill="#fff" stroke="#ccc"/>`,
  );
  parts.push(
    `<text x="8" y="15" class="t">#${c.index} ${escapeXml(c.label)} — worst ${escapeXml(ms(c.combinedDowntimeMs))}</text>`,
  );
  parts.push(
    `<text x="8" y="27" class="s">pod→VM ${escapeXml(directionSummary(c.podToVm))} · ` +
      `VM→pod ${escapeXml(directionSummary(c.vmToPod))}</text>`,
  );
  for (const dir of DIRECTIONS) {
    const d = c[dir];
    const y = ROW_Y[dir];
    parts.push(
      `<text x="${LEFT - 6}" y="${y + ROW_H - 3}" class="l" text-anchor="end">${DIRECTION_LABEL[dir]}</text>`,
    );
    // The measured outage, shaded so the ticks on either side of it read as its ends.
    if (d.gapStartMs !== null || d.gapEndMs !== null) {
      const a = clamp((d.gapStartMs ?? c.atMs + o.fromMs) - c.atMs);
      const b = clamp((d.gapEndMs ?? c.atMs + o.toMs) - c.atMs);
      if (b > a && d.downtimeMs > 0) {
        parts.push(
          `<rect class="gap" x="${n1(x(a))}" y="${y - 1}" width="${n1(x(b) - x(a))}" height="${ROW_H + 2}" fill="${RED}" fill-opacity="0.12"/>`,
        );
      }
    }
    const got = d.receivedRelMs.filter(inRange);
    const lost = d.lostRelMs.filter(inRange);
    const path = (xs: number[]) => xs.map((t) => `M${n1(x(t))} ${y}v${ROW_H}`).join('');
    parts.push(
      `<path class="received" data-n="${got.length}" d="${path(got)}" stroke="#333" stroke-width="0.8"/>`,
    );
    parts.push(
      `<path class="lost" data-n="${lost.length}" d="${path(lost)}" stroke="${RED}" stroke-width="1.4"/>`,
    );
  }
  // Axis and ticks; the mark itself is the dashed line at 0.
  parts.push(`<path d="M${LEFT} ${AXIS_Y}H${LEFT + plotW}" stroke="#666"/>`);
  const first = Math.ceil(o.fromMs / o.tickMs) * o.tickMs;
  for (let t = first; t <= o.toMs; t += o.tickMs) {
    const tx = n1(x(t));
    const label = t === 0 ? '0' : t > 0 ? `+${t}` : `−${-t}`;
    parts.push(`<path d="M${tx} ${AXIS_Y}v4" stroke="#666"/>`);
    parts.push(`<text x="${tx}" y="${AXIS_Y + 15}" class="a" text-anchor="middle">${label}</text>`);
  }
  parts.push(
    `<text x="${LEFT + plotW}" y="${AXIS_Y + 28}" class="a" text-anchor="end">ms from cutover mark</text>`,
  );
  if (inRange(0)) {
    parts.push(
      `<path d="M${n1(x(0))} ${ROW_Y.podToVm - 4}V${AXIS_Y}" stroke="#1f77b4" stroke-dasharray="3 2" class="mark"/>`,
    );
  }
  parts.push('</g>');
  return parts.join('\n');
}

function statsLine(name: string, s: DowntimeStats): string {
  return `${name} p50 ${ms(s.p50)}, p95 ${ms(s.p95)}, p99 ${ms(s.p99)}, max ${ms(s.max)}`;
}

/** One panel per cutover: a tick per received probe, a red tick per lost one, both directions. */
export function renderSvg(analysis: MigrationAnalysis, options: PlotOptions = {}): string {
  const o: Required<PlotOptions> = {
    fromMs: options.fromMs ?? -300,
    toMs: options.toMs ?? 500,
    tickMs: options.tickMs ?? 100,
    columns: options.columns ?? (analysis.cutovers.length === 1 ? 1 : 2),
    panelWidth: options.panelWidth ?? 470,
  };
  if (!(o.toMs > o.fromMs) || !(o.tickMs > 0) || !(o.columns >= 1)) {
    throw new RangeError('renderSvg: need toMs > fromMs, tickMs > 0, columns >= 1');
  }
  const gutter = 8;
  const cols = Math.max(1, Math.min(o.columns, analysis.cutovers.length));
  const rows = Math.ceil(analysis.cutovers.length / cols);
  const width = cols * o.panelWidth + (cols + 1) * gutter;
  const height = HEADER_HEIGHT + rows * (PANEL_HEIGHT + gutter) + gutter;
  const panels = analysis.cutovers.map((c, i) =>
    panel(
      c,
      gutter + (i % cols) * (o.panelWidth + gutter),
      HEADER_HEIGHT + gutter + Math.floor(i / cols) * (PANEL_HEIGHT + gutter),
      o.panelWidth,
      o,
    ),
  );
  const { stats } = analysis;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<style>.t{font-size:12px;font-weight:600}.s,.l{font-size:10.5px}.a{font-size:9.5px;fill:#444}.h{font-size:12px}</style>',
    `<rect width="${width}" height="${height}" fill="#f7f7f7"/>`,
    `<text x="${gutter}" y="19" class="h">${escapeXml(
      `${analysis.cutovers.length} cutovers, probes every ${analysis.intervalMs} ms — ${statsLine('worst direction', stats.combined)}`,
    )}</text>`,
    ...panels,
    '</svg>',
  ].join('\n');
}

function figuresTable(analysis: MigrationAnalysis): string {
  const cell = (x: number) => `<td>${Number.isFinite(x) ? x.toFixed(1) : '–'}</td>`;
  const dirCells = (d: DirectionOutage) =>
    `${cell(d.downtimeMs)}<td>${d.lost}</td><td>${!d.measured ? 'not measured' : d.recovered ? 'yes' : '<b>no</b>'}</td>`;
  const rows = analysis.cutovers.map(
    (c) =>
      `<tr><td>${c.index}</td><td>${escapeXml(c.label)}</td>${dirCells(c.podToVm)}${dirCells(c.vmToPod)}${cell(c.combinedDowntimeMs)}</tr>`,
  );
  const { stats } = analysis;
  const statRows = (['p50', 'p95', 'p99', 'max'] as const).map(
    (k) =>
      `<tr class="stat"><td></td><td>${k} of ${stats.combined.n}</td>${cell(stats.podToVm[k])}<td></td><td></td>` +
      `${cell(stats.vmToPod[k])}<td></td><td></td>${cell(stats.combined[k])}</tr>`,
  );
  return [
    '<table class="figures">',
    '<thead><tr><th rowspan="2">#</th><th rowspan="2">label</th><th colspan="3">pod→VM</th><th colspan="3">VM→pod</th><th rowspan="2">worst ms</th></tr>',
    '<tr><th>downtime ms</th><th>lost</th><th>recovered</th><th>downtime ms</th><th>lost</th><th>recovered</th></tr></thead>',
    '<tbody>',
    ...rows,
    ...statRows,
    '</tbody></table>',
  ].join('\n');
}

/** A standalone page: the facts of the run, the SVG inline, and the figures as a table. */
export function renderHtml(analysis: MigrationAnalysis, meta: HtmlMeta, options: PlotOptions = {}): string {
  const facts = Object.entries(meta.facts ?? {})
    .map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(String(v))}</td></tr>`)
    .join('\n');
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeXml(meta.title)}</title>`,
    '<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:1em 0}' +
      'td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}td{text-align:right}' +
      '.facts th,.facts td{text-align:left}tr.stat td{background:#f3f3f3}</style>',
    '</head><body>',
    `<h1>${escapeXml(meta.title)}</h1>`,
    `<p>Downtime: the largest gap between received probes within ${analysis.windowBeforeMs} ms before to ` +
      `${analysis.windowAfterMs} ms after each cutover mark; probes every ${analysis.intervalMs} ms, so a ` +
      `cutover without loss shows about one interval.</p>`,
    facts ? `<table class="facts">\n${facts}\n</table>` : '',
    renderSvg(analysis, options),
    figuresTable(analysis),
    '</body></html>',
    '',
  ].join('\n');
}
