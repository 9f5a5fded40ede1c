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
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #splitter: JsonValueSplitter;
  readonly #ready: string[] = [];
  #ended = false;

  /** `limit`: largest accepted value in bytes. */
  constructor(body: ReadableStream<Uint8Array> | null, limit: number) {
    this.#reader = body?.getReader();
    this.#splitter = new JsonValueSplitter(limit);
    if (!this.#reader) this.#ended = true;
  }

  /**
   * The next value's text; undefined once the body has ended. Throws when
   * a value exceeds the bound or the body fails (client gone).
   */
  async next(): Promise<string | undefined> {
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
    this.#reader?.cancel().catch(() => {});
  }
}
