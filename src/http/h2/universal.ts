/**
 * Serves HTTP/2 streams through handlers written against web-standard or
 * Connect interfaces: a Connect `UniversalHandler` (gRPC streaming calls,
 * gRPC-Web and the Connect protocol over HTTP/2) and a fetch-style handler
 * (the hono app: /health, /version, ...).
 *
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type {
  UniversalHandler,
  UniversalServerRequest,
  UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { encodeHeaders } from "./hpack.ts";
import type { H2Stream } from "./stream.ts";

/** The request body of `stream` as an async iterable; each chunk taken frees window. */
export function requestBody(stream: H2Stream): AsyncIterable<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  stream.listener = {
    data(chunk) {
      chunks.push(chunk);
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    abort(reason) {
      failure = new ConnectError(reason, Code.Canceled);
      notify();
    },
  };
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (chunks.length > 0) {
          const chunk = chunks.shift()!;
          stream.consumed(chunk.length);
          yield chunk;
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

/** Request headers without the pseudo-headers, as web `Headers`. */
export function requestHeaders(stream: H2Stream): Headers {
  const h = new Headers();
  for (const [name, value] of stream.fields) {
    if (name.startsWith(":")) continue;
    try {
      h.append(name, value);
    } catch {
      // A value Headers refuses (control characters) is dropped, not fatal.
    }
  }
  return h;
}

/** The absolute URL of the request (`http://authority/path`). */
export function requestUrl(stream: H2Stream): string {
  const authority = stream.header(":authority") ?? stream.header("host") ?? "localhost";
  const scheme = stream.header(":scheme") ?? "http";
  // Go clients may send a whole URL as authority; keep only its host part.
  const host = authority.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return `${scheme}://${host}${stream.path}`;
}

function responseHeaderBlock(status: number, header: Headers | undefined): Uint8Array {
  const fields: Array<[string, string]> = [[":status", String(status)]];
  header?.forEach((value, name) => fields.push([name, value]));
  return encodeHeaders(fields);
}

/** Serves `stream` with a Connect universal handler. */
export async function serveUniversal(stream: H2Stream, handler: UniversalHandler): Promise<void> {
  const req: UniversalServerRequest = {
    httpVersion: "2.0",
    url: requestUrl(stream),
    method: stream.method,
    header: requestHeaders(stream),
    body: requestBody(stream),
    signal: stream.signal,
  };
  let res: UniversalServerResponse;
  try {
    res = await handler(req);
  } catch (err) {
    if (ConnectError.from(err).code !== Code.Aborted) stream.reset();
    return;
  }
  await sendUniversalResponse(stream, res);
}

/** Writes a universal response: headers after the first body chunk, then body, then trailers. */
export async function sendUniversalResponse(
  stream: H2Stream,
  res: UniversalServerResponse,
): Promise<void> {
  const it = res.body?.[Symbol.asyncIterator]();
  try {
    if (it) {
      // Headers go after the first chunk, so the implementation can still set them.
      let chunk = await it.next();
      if (stream.aborted) return;
      stream.respond(responseHeaderBlock(res.status, res.header));
      for (; chunk.done !== true; chunk = await it.next()) {
        if (stream.aborted) return;
        await stream.write(chunk.value);
      }
    }
    if (stream.aborted) return;
    const trailer = res.trailer && [...res.trailer.keys()].length > 0 ? res.trailer : undefined;
    if (!stream.headersSent) {
      stream.respond(responseHeaderBlock(res.status, res.header), !trailer);
      if (!trailer) return;
    }
    if (trailer) {
      const fields: Array<[string, string]> = [];
      trailer.forEach((value, name) => fields.push([name, value]));
      stream.sendTrailers(encodeHeaders(fields));
    } else {
      stream.end();
    }
  } catch {
    stream.reset();
  } finally {
    it?.return?.().catch(() => {});
  }
}

/** A fetch-style handler (hono's `app.fetch`). */
export type FetchHandler = (req: Request) => Response | Promise<Response>;

/** Serves `stream` with a fetch-style handler. */
export async function serveFetch(stream: H2Stream, handler: FetchHandler): Promise<void> {
  const hasBody = stream.method !== "GET" && stream.method !== "HEAD";
  const body = requestBody(stream);
  const request = new Request(requestUrl(stream), {
    method: stream.method,
    headers: requestHeaders(stream),
    body: hasBody ? ReadableStream.from(body) : undefined,
    signal: stream.signal,
  });
  let response: Response;
  try {
    response = await handler(request);
  } catch {
    stream.reset();
    return;
  }
  if (stream.aborted) return;
  const fields: Array<[string, string]> = [[":status", String(response.status)]];
  response.headers.forEach((value, name) => fields.push([name, value]));
  if (!response.body || stream.method === "HEAD") {
    stream.respond(encodeHeaders(fields), true);
    return;
  }
  stream.respond(encodeHeaders(fields));
  try {
    for await (const chunk of response.body) {
      if (stream.aborted) return;
      await stream.write(chunk);
    }
    stream.end();
  } catch {
    stream.reset();
  }
}
