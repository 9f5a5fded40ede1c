/**
 * A client of etcd's JSON gateway for the differential tests: plain
 * HTTP/1.1 POSTs as curl sends them, streamed answers read line by line
 * with bounded waits, and the normalisation that makes etcd's and cairn's
 * answers comparable byte for byte.
 *
 * Only values that legitimately differ between two independent members
 * are replaced (cluster/member ids, raft terms and indexes, versions,
 * sizes, hashes, ports). Revisions, keys, values, lease ids chosen by the
 * test, field names and order, and error texts are kept.
 *
 * Differences between etcd 3.4's gateway (the reference available here,
 * built by Debian with grpc-gateway 1.6 and an older grpc-go) and etcd
 * 3.5's, which cairn implements, are mapped explicitly by
 * {@link etcd34To35}, each with the grpc-gateway change that causes it.
 */

import type { Member } from "./member.ts";

/** An answer to one gateway request. */
export interface GatewayAnswer {
  status: number;
  contentType: string | null;
  /** Header `Grpc-Metadata-Content-Type`, which etcd forwards from its gRPC answer. */
  grpcContentType: string | null;
  text: string;
}

/** POSTs `body` (a string sent as is, like curl -d) to `path` of `member`'s client URL. */
export async function post(
  member: Member,
  path: string,
  body: string,
  headers: Record<string, string> = {},
  method = "POST",
): Promise<GatewayAnswer> {
  const res = await fetch(`${member.clientUrl}${path}`, {
    method,
    body: method === "GET" || method === "HEAD" ? undefined : body,
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    signal: AbortSignal.timeout(15_000),
  });
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    grpcContentType: res.headers.get("grpc-metadata-content-type"),
    text: await res.text(),
  };
}

/** A streamed answer being read. */
export class GatewayStream {
  readonly #response: Promise<Response>;
  #status = 0;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #abort: AbortController;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #ended = false;
  /** Every complete line so far, and the final unterminated text once the stream ended. */
  readonly lines: string[] = [];

  private constructor(response: Promise<Response>, abort: AbortController) {
    this.#response = response;
    this.#abort = abort;
    // Read errors surface through readLines; an abort must not go unhandled.
    response.catch(() => {});
  }

  /**
   * Starts a streaming request. The gateway sends its response headers
   * with the first result, so nothing is awaited here: the status is known
   * once {@link readLines} got something.
   */
  static open(
    member: Member,
    path: string,
    body: string | ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
  ): GatewayStream {
    const abort = new AbortController();
    const response = fetch(`${member.clientUrl}${path}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      signal: abort.signal,
    });
    return new GatewayStream(response, abort);
  }

  /** HTTP status (0 until the response headers arrived). */
  get status(): number {
    return this.#status;
  }

  /** True once the server ended the body. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Reads until `count` lines (or the end of the body) arrived, at most
   * `timeoutMs`; returns the lines read so far.
   */
  async readLines(count: number, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count && !this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left)));
      if (!this.#reader) {
        const res = await Promise.race([this.#response, timeout]);
        clearTimeout(timer);
        if (res === "timeout") break;
        this.#status = res.status;
        this.#reader = res.body!.getReader();
        continue;
      }
      const next = await Promise.race([this.#reader.read(), timeout]);
      clearTimeout(timer);
      if (next === "timeout") break;
      if (next.done) {
        this.#ended = true;
        if (this.#buffer !== "") this.lines.push(this.#buffer);
        this.#buffer = "";
        break;
      }
      this.#buffer += this.#decoder.decode(next.value, { stream: true });
      let nl: number;
      while ((nl = this.#buffer.indexOf("\n")) >= 0) {
        this.lines.push(this.#buffer.slice(0, nl));
        this.#buffer = this.#buffer.slice(nl + 1);
      }
    }
    return this.lines;
  }

  /** Reads to the end of the body (bounded); throws if it does not end in time. */
  async readToEnd(timeoutMs = 10_000): Promise<string[]> {
    await this.readLines(Number.MAX_SAFE_INTEGER, timeoutMs);
    if (!this.#ended) throw new Error(`stream did not end within ${timeoutMs} ms`);
    return this.lines;
  }

  /** Hangs up. */
  close(): void {
    this.#abort.abort();
    this.#reader?.cancel().catch(() => {});
  }
}

const RULES: Array<[RegExp, string]> = [
  [/"(cluster_id|member_id)":"\d+"/g, '"$1":"<id>"'],
  [/"raft_term":"\d+"/g, '"raft_term":"<term>"'],
  // Member ids in member lists, status and alarms (lease ids the tests choose are short).
  [/"(ID|leader|memberID)":"\d{12,}"/g, '"$1":"<id>"'],
  [/"(raftIndex|raftTerm|raftAppliedIndex|dbSize|dbSizeInUse)":"\d+"/g, '"$1":"<n>"'],
  [/"version":"3\.\d+\.\d+"/g, '"version":"<version>"'],
  [/"hash":\d+/g, '"hash":<hash>'],
  [/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>"],
];

/** Replaces what legitimately differs between two members in a gateway body. */
export function normalizeBody(text: string): string {
  let out = text;
  for (const [pattern, replacement] of RULES) out = out.replace(pattern, replacement);
  return out;
}

/** A unary error body of grpc-gateway, parsed; undefined when `text` is none. */
export function parseUnaryError(
  text: string,
): { error: string; code: number; message: string } | undefined {
  try {
    const v = JSON.parse(text);
    if (typeof v?.error === "string" && typeof v?.code === "number") return v;
  } catch {
    // not JSON
  }
  return undefined;
}

/** grpc-gateway v1.16's HTTP status for a gRPC code (the mapping etcd 3.5 answers with). */
export function httpStatus35(code: number): number {
  return [200, 408, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401][
    code
  ] ?? 500;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  408: "Request Timeout",
  500: "Internal Server Error",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * Rewrites an answer of etcd 3.4's gateway into what etcd 3.5's gives
 * for the same outcome:
 *
 * - unary errors: grpc-gateway 1.6 ordered the body's keys error,
 *   message, code (1.16's `internal.Error`: error, code, message) and
 *   mapped FailedPrecondition to 412 (1.14 on: 400);
 * - `stream`: a streaming call that fails before its first message is a
 *   stream error in 3.5 (grpc-go's ClientStream.Header no longer returns
 *   the call's error), a unary-style error in 3.4.
 */
export function etcd34To35(answer: GatewayAnswer, stream = false): GatewayAnswer {
  const err = parseUnaryError(answer.text);
  if (!err) return answer;
  const status = httpStatus35(err.code);
  if (stream) {
    const body = {
      error: {
        grpc_code: err.code,
        http_code: status,
        message: err.message,
        http_status: STATUS_TEXT[status],
      },
    };
    return { ...answer, status, text: JSON.stringify(body) };
  }
  return {
    ...answer,
    status,
    text: JSON.stringify({ error: err.error, code: err.code, message: err.message }),
  };
}
