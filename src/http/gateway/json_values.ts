/**
 * Cuts a byte stream of concatenated JSON values (`{...} {...}`) into one
 * text per top-level value, as Go's `json.Decoder` reads a grpc-gateway
 * request body: a unary call takes the first value and ignores the rest;
 * a client or bidi stream sends each value as one request message.
 *
 * Only the extent of each value is found here; parsing and validation are
 * left to `JSON.parse`. A value longer than the bound is refused before it
 * is buffered whole (DESIGN.md rule 6).
 *
 * @module
 */

/** A JSON value in a request body larger than the gateway accepts. */
export class ValueTooLargeError extends Error {
  /** Bytes of the value seen before it was refused. */
  readonly size: number;
  /** The bound it crossed. */
  readonly limit: number;

  constructor(size: number, limit: number) {
    super(`JSON value larger than max (${size} vs. ${limit})`);
    this.name = "ValueTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

const enum Mode {
  /** Between values. */
  Between,
  /** Inside an object or array. */
  Nested,
  /** Inside a string (top-level or nested). */
  InString,
  /** Just after a backslash inside a string. */
  Escape,
  /** Inside a top-level number or literal. */
  Scalar,
}

const SPACE = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d;
const QUOTE = 0x22, BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;

function isSpace(b: number): boolean {
  return b === SPACE || b === TAB || b === LF || b === CR;
}

/** Decodes whole values only (never streaming), so one is shared by every splitter. */
const decoder = new TextDecoder();

/** Incremental splitter: feed chunks, collect complete values. */
export class JsonValueSplitter {
  readonly #limit: number;
  /** Bytes of the value under way. */
  #parts: Uint8Array[] = [];
  #size = 0;
  #mode = Mode.Between;
  /** Where a string ends up: a nested one returns to Nested. */
  #stringInNested = false;
  #depth = 0;

  /** `limit`: largest value, in bytes, that is accepted. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * Takes the next chunk of the body and returns the values it completed,
   * in order; throws {@link ValueTooLargeError} past the bound.
   */
  push(chunk: Uint8Array): string[] {
    const out: string[] = [];
    let start = -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      switch (this.#mode) {
        case Mode.Between:
          if (isSpace(b)) continue;
          start = i;
          if (b === OPEN_BRACE || b === OPEN_BRACKET) {
            this.#mode = Mode.Nested;
            this.#depth = 1;
          } else if (b === QUOTE) {
            this.#mode = Mode.InString;
            this.#stringInNested = false;
          } else {
            this.#mode = Mode.Scalar;
          }
          continue;
        case Mode.Nested:
          if (b === QUOTE) {
            this.#mode = Mode.InString;
            this.#stringInNested = true;
          } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
            this.#depth++;
          } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
            if (--this.#depth === 0) {
              out.push(this.#finish(chunk, start, i + 1));
              start = -1;
            }
          }
          continue;
        case Mode.InString:
          if (b === BACKSLASH) this.#mode = Mode.Escape;
          else if (b === QUOTE) {
            if (this.#stringInNested) this.#mode = Mode.Nested;
            else {
              out.push(this.#finish(chunk, start, i + 1));
              start = -1;
            }
          }
          continue;
        case Mode.Escape:
          this.#mode = Mode.InString;
          continue;
        case Mode.Scalar:
          // A literal or number ends where something else begins.
          if (isSpace(b) || b === OPEN_BRACE || b === OPEN_BRACKET || b === QUOTE) {
            out.push(this.#finish(chunk, start, i));
            start = -1;
            i--; // the byte starts the next value (or is space)
          }
          continue;
      }
    }
    if (this.#mode !== Mode.Between) this.#keep(chunk.subarray(start < 0 ? 0 : start));
    return out;
  }

  /**
   * The end of the body: the value under way, if any, as far as it got
   * (a top-level literal ends here; anything else is truncated and fails
   * to parse, as Go reports an unexpected EOF).
   */
  end(): string | undefined {
    if (this.#mode === Mode.Between) return undefined;
    return this.#finish(new Uint8Array(0), 0, 0);
  }

  #keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#size += bytes.length;
    if (this.#size > this.#limit) throw new ValueTooLargeError(this.#size, this.#limit);
    // The chunk may be reused by its producer: keep a copy.
    this.#parts.push(bytes.slice());
  }

  #finish(chunk: Uint8Array, start: number, end: number): string {
    const tail = chunk.subarray(start < 0 ? 0 : start, end);
    if (this.#size + tail.length > this.#limit) {
      throw new ValueTooLargeError(this.#size + tail.length, this.#limit);
    }
    let text: string;
    if (this.#parts.length === 0) text = decoder.decode(tail);
    else {
      const all = new Uint8Array(this.#size + tail.length);
      let off = 0;
      for (const p of this.#parts) {
        all.set(p, off);
        off += p.length;
      }
      all.set(tail, off);
      text = decoder.decode(all);
    }
    this.#parts = [];
    this.#size = 0;
    this.#mode = Mode.Between;
    this.#depth = 0;
    return text;
  }
}
