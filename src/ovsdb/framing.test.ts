import { FramingError, JsonStreamSplitter } from './framing.js';

/** Feeds text to a splitter in pieces of the given sizes (bytes), collecting what it returns. */
function feed(text: string, sizes: number[]): unknown[] {
  const bytes = Buffer.from(text, 'utf8');
  const s = new JsonStreamSplitter();
  const out: unknown[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(...s.push(bytes.subarray(at, at + n)));
    at += n;
  }
  expect(s.pending).toBe(false);
  return out;
}

describe('JsonStreamSplitter', () => {
  const messages = [
    { id: 1, method: 'echo', params: [] },
    { result: [{ rows: [{ name: 'a {b} [c] "d" \\ e' }] }], error: null, id: 2 },
    { method: 'update2', params: ['x', { T: { u: { modify: { s: '}}]]{{\\"' } } } }], id: null },
    { unicode: 'grüße ✓ 🚀', escaped: '\u0000\n\t"' },
    [1, [2, [3]]],
  ];
  const stream = messages.map((m) => JSON.stringify(m)).join('') + ' \n';

  it('splits back-to-back messages given in one chunk', () => {
    expect(feed(stream, [stream.length * 4])).toEqual(messages);
  });

  it.each([1, 2, 3, 7, 64])('gives the same messages for chunks of %i bytes', (n) => {
    // One-byte chunks split every multi-byte UTF-8 character and every escape sequence.
    expect(feed(stream, [n])).toEqual(messages);
  });

  it('handles irregular chunking, and whitespace between messages', () => {
    const spaced = messages.map((m) => JSON.stringify(m, null, 2)).join('\r\n\t ');
    expect(feed(spaced, [5, 1, 13, 2, 300])).toEqual(messages);
  });

  it('keeps a partial message until the rest arrives', () => {
    const s = new JsonStreamSplitter();
    expect(s.push(Buffer.from('{"a":"}'))).toEqual([]);
    expect(s.pending).toBe(true);
    expect(s.push(Buffer.from('\\""}{"b":1'))).toEqual([{ a: '}"' }]);
    expect(s.push(Buffer.from('}'))).toEqual([{ b: 1 }]);
  });

  it('rejects garbage between messages and malformed JSON', () => {
    expect(() => new JsonStreamSplitter().push(Buffer.from('{} x'))).toThrow(FramingError);
    expect(() => new JsonStreamSplitter().push(Buffer.from('{"a" 1}'))).toThrow(/malformed JSON/);
  });

  it('refuses a message larger than its limit', () => {
    const s = new JsonStreamSplitter(16);
    expect(() => s.push(Buffer.from('{"a":"' + 'x'.repeat(32)))).toThrow(/exceeds 16 bytes/);
  });
});
