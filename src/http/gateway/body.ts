/**
 * Reads a gateway request body as a sequence of JSON value texts, taking
 * bytes from the body only as values are asked for (so a streaming client
 * is read at the pace its requests are handled) and never holding more
 * than one value's bound.
 *
 * @module
 */
import { JsonValueSplitter } from "./json_values.ts";

/** The JSON values of one request body, in order. */
export class BodyValues {
  /** Pieces of a streamed body; a ReadableStream's reader, whose cancel() ends a pending read too. */
  readonly #reader: { read(): Promise<IteratorResult<Uint8Array>>; cancel(): void } | undefined =
    undefined;
  readonly #splitter: JsonValueSplitter;
  readonly #ready: string[] = [];
  #ended = false;
  /** A body given whole, split on the first call to next() (its bound errors are thrown there). */
  #whole: Uint8Array | undefined;

  /**
   * `body`: a stream read on demand, or the whole body already read;
   * `limit`: largest accepted value in bytes.
   */
  constructor(body: AsyncIterable<Uint8Array> | Uint8Array | null, limit: number) {
    this.#splitter = new JsonValueSplitter(limit);
    if (body instanceof Uint8Array) {
      this.#whole = body;
      this.#ended = true;
    } else {
      this.#reader = body === null ? undefined : readerOf(body);
      if (!this.#reader) this.#ended = true;
    }
  }

  /**
   * The next value's text; undefined once the body has ended. Throws when
   * a value exceeds the bound or the body fails (client gone).
   */
  async next(): Promise<string | undefined> {
    const whole = this.#whole;
    if (whole) {
      this.#whole = undefined;
      for (const text of this.#splitter.push(whole)) this.#ready.push(text);
      const last = this.#splitter.end();
      if (last !== undefined) this.#ready.push(last);
    }
    for (;;) {
      const ready = this.#ready.shift();
      if (ready !== undefined) return ready;
      if (this.#ended) return undefined;
      const { done, value } = await this.#reader!.read();
      if (done) {
        this.#ended = true;
        const last = this.#splitter.end();
        if (last !== undefined) this.#ready.push(last);
        continue;
      }
      for (const text of this.#splitter.push(value)) this.#ready.push(text);
    }
  }

  /** Stops reading; the rest of the body is discarded. */
  cancel(): void {
    this.#ended = true;
    this.#ready.length = 0;
    this.#whole = undefined;
    this.#reader?.cancel();
  }
}

function readerOf(
  body: AsyncIterable<Uint8Array>,
): { read(): Promise<IteratorResult<Uint8Array>>; cancel(): void } {
  if (body instanceof ReadableStream) {
    const r = (body as ReadableStream<Uint8Array>).getReader();
    return {
      read: () => r.read() as Promise<IteratorResult<Uint8Array>>,
      cancel: () => void r.cancel().catch(() => {}),
    };
  }
  const it = body[Symbol.asyncIterator]();
  return { read: () => it.next(), cancel: () => void it.return?.().catch(() => {}) };
}
