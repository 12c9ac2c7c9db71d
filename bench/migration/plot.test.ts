import { analyzeMigration, type ProbeReport, type ReceivedProbe } from './analysis.js';
import { renderHtml, renderSvg } from './plot.js';

const T0 = 1_800_000_000_000;
const IV = 5;
const END = T0 + 2000 * IV;

function stream(outages: Array<[number, number]>): ReceivedProbe[] {
  const out: ReceivedProbe[] = [];
  for (let seq = 0; seq < 2000; seq++) {
    const at = T0 + seq * IV;
    if (!outages.some(([a, b]) => at >= a && at < b)) out.push([seq, at + 0.3]);
  }
  return out;
}

function report(role: 'client' | 'server', received: ReceivedProbe[]): ProbeReport {
  return {
    role,
    startedAtMs: T0,
    stoppedAtMs: END,
    udp: { sent: 2000, received, lastSentAtMs: END },
    tcp: { bytesSent: 0, bytesVerified: 0, errors: [], closed: false },
    bulk: { patternOk: true },
  };
}

const m0 = T0 + 2000;
const m1 = T0 + 6000;
const analysis = analyzeMigration({
  client: report('client', stream([[m0, m0 + 40]])),
  // The second outage runs past the panel's +500 ms edge: its lost ticks there are not drawn.
  server: report(
    'server',
    stream([
      [m0, m0 + 100],
      [m1 + 300, m1 + 900],
    ]),
  ),
  intervalMs: IV,
  marks: [
    { index: 0, atMs: m0, label: 'migrate <vm-a> & back' },
    { index: 1, atMs: m1, label: 'drain' },
  ],
});

/** Tags open and close in order (self-closing ones aside): enough to catch a broken template. */
function balanced(markup: string): boolean {
  const stack: string[] = [];
  for (const [, close, name, self] of markup.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    if (self || ['meta', '!doctype'].includes(name?.toLowerCase() ?? '')) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name ?? '');
  }
  return stack.length === 0;
}

describe('renderSvg', () => {
  const svg = renderSvg(analysis);

  it('draws one panel per cutover with a tick per received and a red tick per lost probe in range', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(balanced(svg)).toBe(true);
    expect(svg.match(/<g class="panel"/g)).toHaveLength(2);
    const counts = [...svg.matchAll(/<path class="(received|lost)" data-n="(\d+)" d="([^"]*)"/g)].map(
      ([, kind, n, d]) => ({ kind, n: Number(n), moves: (d?.match(/M/g) ?? []).length }),
    );
    expect(counts).toHaveLength(8);
    for (const c of counts) expect(c.moves).toBe(c.n);
    // Panel 0: pod→VM lost 20, VM→pod lost 8; panel 1: pod→VM loses from +300 ms, 40 of them by +500.
    expect(counts.filter((c) => c.kind === 'lost').map((c) => c.n)).toEqual([20, 8, 40, 0]);
    // 800 ms at one probe per 5 ms, less the lost ones.
    expect(counts[0]).toMatchObject({ kind: 'received', n: 160 - 20 });
  });

  it('titles each panel with its downtime figures and escapes labels', () => {
    expect(svg).toContain('#0 migrate &lt;vm-a&gt; &amp; back — worst 105.0 ms');
    expect(svg).toContain('pod→VM 105.0 ms, 20 lost · VM→pod 45.0 ms, 8 lost');
    expect(svg).toContain('pod→VM 605.0 ms, 120 lost');
    expect(svg).not.toContain('<vm-a>');
    expect(svg).not.toMatch(/href|url\(/);
  });

  it('labels the axis from −300 to +500 ms by default and follows other ranges', () => {
    for (const t of ['−300', '−100', '>0<', '+100', '+500']) expect(svg).toContain(t);
    const wide = renderSvg(analysis, { fromMs: -1000, toMs: 1000, tickMs: 500, columns: 1 });
    expect(wide).toContain('−1000');
    expect(wide).toContain('+1000');
    expect(wide).not.toContain('+100<');
    expect(() => renderSvg(analysis, { fromMs: 10, toMs: 0 })).toThrow(RangeError);
  });
});

describe('renderHtml', () => {
  it('wraps the SVG with the run facts and a table of the figures', () => {
    const html = renderHtml(analysis, { title: 'Migration <run 1>', facts: { interval: '5 ms', nodes: 3 } });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(balanced(html)).toBe(true);
    expect(html).toContain('<title>Migration &lt;run 1&gt;</title>');
    expect(html).toContain(renderSvg(analysis));
    expect(html).toContain('<tr><th>nodes</th><td>3</td></tr>');
    const rows = [...html.matchAll(/<tr><td>(\d+)<\/td><td>([^<]*)<\/td>((?:<td>[^<]*<\/td>)+)/g)];
    expect(rows.map((r) => r[2])).toEqual(['migrate &lt;vm-a&gt; &amp; back', 'drain']);
    expect(rows[0]?.[3]).toBe(
      '<td>105.0</td><td>20</td><td>yes</td><td>45.0</td><td>8</td><td>yes</td><td>105.0</td>',
    );
    expect(html.match(/<tr class="stat">/g)).toHaveLength(4);
  });
});
