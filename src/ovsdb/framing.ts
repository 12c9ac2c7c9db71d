// OVSDB's JSON-RPC runs over a plain stream: messages are JSON objects written back to back, with no
// length prefix or delimiter. The splitter finds where each top-level value ends by tracking nesting
// depth outside strings. It works on bytes so that a multi-byte UTF-8 character split between two
// chunks is decoded whole (structural characters are ASCII and never occur inside a UTF-8 sequence).

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class FramingError extends Error {
  override name = 'FramingError';
}

export class JsonStreamSplitter {
  private parts: Buffer[] = [];
  private partsLength = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** @param maxMessageBytes a message larger than this is a protocol error, not a memory leak */
  constructor(private readonly maxMessageBytes = 512 << 20) {}

  /** Feeds one chunk; returns the complete values it ended, parsed, in order. */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (c === OPEN_BRACE || c === OPEN_BRACKET) {
          start = i;
          this.depth = 1;
        } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          start = i + 1;
        } else {
          throw new FramingError(`unexpected byte 0x${c.toString(16)} between messages`);
        }
        continue;
      }
      if (c === QUOTE) this.inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--this.depth === 0) {
          out.push(this.finish(chunk.subarray(start, i + 1)));
          start = i + 1;
        }
      }
    }
    if (this.depth > 0 && start < chunk.length) {
      this.parts.push(chunk.subarray(start));
      this.partsLength += chunk.length - start;
      if (this.partsLength > this.maxMessageBytes) {
        throw new FramingError(`message exceeds ${this.maxMessageBytes} bytes`);
      }
    }
    return out;
  }

  /** True while a message is partly received. */
  get pending(): boolean {
    return this.depth > 0;
  }

  private finish(last: Buffer): unknown {
    const bytes = this.parts.length ? Buffer.concat([...this.parts, last]) : last;
    this.parts = [];
    this.partsLength = 0;
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new FramingError(`malformed JSON message: ${(e as Error).message}`);
    }
  }
}
