/** Options of {@link createLineBuffer}. */
export interface LineBufferOptions {
  /** How many complete lines to keep: the newest `lines` win. An integer >= 1. */
  lines: number;
  /**
   * The longest line kept, in characters. A longer line (complete or still
   * partial) keeps its first `maxLineLength` characters followed by `…`, so
   * memory stays bounded by `lines × maxLineLength` whatever is written.
   * Default 16,384.
   */
  maxLineLength?: number;
}

/**
 * The last N lines of a text stream, fed chunk by chunk in any split:
 * a partial line is held until its newline arrives.
 */
export interface LineBuffer {
  /** Feeds text; every `\n` it contains ends a line (a `\r` before it is dropped). */
  write(text: string): void;
  /** The complete lines kept, oldest first (at most `capacity`); the partial line is not included. */
  lines(): string[];
  /** The text written since the last newline (truncated like a line), `""` if none. */
  partial(): string;
  /** How many lines the buffer keeps. */
  readonly capacity: number;
  /** How many complete lines were ever written, kept or not. */
  readonly total: number;
  /** Forgets every line and the partial line; `total` restarts at 0. */
  clear(): void;
}

/**
 * Creates a ring buffer of the last `lines` complete lines of a text stream.
 * Adding a line costs O(1) whatever the capacity: the oldest line is
 * overwritten in place, nothing is shifted. Chunks may split lines anywhere;
 * the text after the last newline waits in {@link LineBuffer.partial} until
 * the rest of its line comes.
 *
 * An invalid `lines` or `maxLineLength` throws a `TypeError` at once.
 *
 * @example
 * ```ts
 * const buffer = createLineBuffer({ lines: 2 });
 * buffer.write("one\ntwo\nthr");
 * buffer.write("ee\nfo");
 * buffer.lines();   // ["two", "three"]
 * buffer.partial(); // "fo"
 * buffer.total;     // 3
 * ```
 */
export function createLineBuffer(options: LineBufferOptions): LineBuffer {
  const { lines: capacity, maxLineLength = 16_384 } = options ?? {};
  checkCount("lines", capacity);
  checkCount("maxLineLength", maxLineLength);
  return new RingLineBuffer(capacity, maxLineLength);
}

class RingLineBuffer implements LineBuffer {
  private ring: string[];
  /** Index of the oldest line kept. */
  private head = 0;
  private count = 0;
  private pending = "";
  private pendingTruncated = false;
  total = 0;

  constructor(
    readonly capacity: number,
    private readonly maxLineLength: number,
  ) {
    this.ring = new Array<string>(capacity);
  }

  write(text: string): void {
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      this.append(text.slice(start, end));
      this.push(this.pending.endsWith("\r") ? this.pending.slice(0, -1) : this.pending);
      this.pending = "";
      this.pendingTruncated = false;
      start = end + 1;
    }
    if (start < text.length) this.append(text.slice(start));
  }

  lines(): string[] {
    const out = new Array<string>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.ring[(this.head + i) % this.capacity];
    return out;
  }

  partial(): string {
    return this.pending;
  }

  clear(): void {
    this.ring = new Array<string>(this.capacity);
    this.head = 0;
    this.count = 0;
    this.pending = "";
    this.pendingTruncated = false;
    this.total = 0;
  }

  /** Adds to the partial line, keeping at most `maxLineLength` characters of it. */
  private append(piece: string): void {
    if (this.pendingTruncated) return;
    const room = this.maxLineLength - this.pending.length;
    if (piece.length <= room) {
      this.pending += piece;
    } else {
      this.pending += `${piece.slice(0, room)}…`;
      this.pendingTruncated = true;
    }
  }

  private push(line: string): void {
    this.total++;
    if (this.count < this.capacity) {
      this.ring[(this.head + this.count) % this.capacity] = line;
      this.count++;
    } else {
      this.ring[this.head] = line;
      this.head = (this.head + 1) % this.capacity;
    }
  }
}

function checkCount(name: string, value: unknown): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TypeError(
      `createLineBuffer: ${name} must be an integer >= 1, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
    );
  }
}
