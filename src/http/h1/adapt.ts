/**
 * HTTP/1.1 requests handed to the handlers the HTTP/2 server uses too: a
 * fetch-style handler (the hono app) and Connect's universal handlers
 * (the Connect protocol and gRPC-Web). Small bodies that have already
 * arrived are passed as bytes, larger or streamed ones as streams.
 *
 * @module
 */
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { type FetchEnv, knownBody } from "../fetch_env.ts";
import type { GatewayAnswer, GatewayRequest } from "../gateway/gateway.ts";
import type { HeaderFields, Http1Request, Http1Response } from "./server.ts";

/** The absolute URL of the request, from its target and Host header. */
export function requestUrl(req: Http1Request, secure: boolean): string {
  const target = req.target;
  if (!target.startsWith("/")) {
    // Absolute form (as sent to proxies) names the URL itself; `*` (OPTIONS) the server.
    if (/^https?:\/\//i.test(target)) return target;
    return `${secure ? "https" : "http"}://${req.header("host") ?? "localhost"}/`;
  }
  return `${secure ? "https" : "http"}://${req.header("host") ?? "localhost"}${target}`;
}

/**
 * The request as a fetch `Request` and the {@link FetchEnv} that goes
 * with it (the abort signal, and the body when it is all here). Throws
 * (TypeError) when the URL or a header cannot be represented: callers
 * answer 400.
 */
export function fetchRequest(
  req: Http1Request,
  secure: boolean,
): { request: Request; env: FetchEnv } {
  const method = req.method;
  const env: FetchEnv = { signal: req.signal };
  let body: BodyInit | undefined;
  if (req.hasBody && method !== "GET" && method !== "HEAD") {
    const whole = req.takeBufferedBody() as Uint8Array<ArrayBuffer> | undefined;
    env.body = whole;
    body = whole ?? ReadableStream.from(req.body);
  }
  const request = new Request(requestUrl(req, secure), {
    method,
    headers: req.fields as [string, string][],
    body,
  });
  return { request, env };
}

/** A fetch `Response` as an HTTP/1.1 answer, with `extra` header fields added. */
export async function fromFetchResponse(
  res: Response,
  extra: ReadonlyArray<readonly [string, string]>,
): Promise<Http1Response> {
  let header: HeaderFields = res.headers;
  if (extra.length > 0) {
    const pairs: Array<readonly [string, string]> = [];
    res.headers.forEach((value, name) => pairs.push([name, value]));
    header = pairs.concat(extra);
  }
  let body: Http1Response["body"] = knownBody(res);
  if (body === undefined) {
    body = res.body;
    // A response that states its length is read whole: one write.
    if (body !== null && res.headers.has("content-length")) body = await res.bytes();
  }
  return { status: res.status, header, body };
}

/** The request as a Connect universal request. */
export function universalRequest(req: Http1Request, secure: boolean): UniversalServerRequest {
  const body = req.takeBufferedBody();
  return {
    httpVersion: req.httpVersion,
    url: requestUrl(req, secure),
    method: req.method,
    header: new Headers(req.fields as [string, string][]),
    body: body ? oneChunk(body) : req.body,
    signal: req.signal,
  };
}

/** A Connect universal response, with `extra` header fields added. */
export function fromUniversalResponse(
  res: UniversalServerResponse,
  extra: ReadonlyArray<readonly [string, string]>,
): Http1Response {
  let header: HeaderFields | undefined = res.header;
  if (extra.length > 0) {
    const pairs: Array<readonly [string, string]> = [];
    res.header?.forEach((value, name) => pairs.push([name, value]));
    header = pairs.concat(extra);
  }
  const trailer = res.trailer && [...res.trailer.keys()].length > 0 ? res.trailer : undefined;
  return { status: res.status, header, body: res.body, trailer };
}

/** The request as a gateway request (`path`: the target's path). */
export function gatewayRequest(req: Http1Request, path: string): GatewayRequest {
  return {
    method: req.method,
    path,
    header: (name) => req.header(name),
    forEachHeader: (fn) => {
      for (const [name, value] of req.fields) fn(name, value);
    },
    body: req.takeBufferedBody() ??
      { stream: req.hasBody ? req.body : null, whole: () => collect(req.body) },
    whenGone: (fn) => req.whenGone(fn),
  };
}

/** A gateway answer as an HTTP/1.1 answer, with `extra` header fields added. */
export function fromGatewayAnswer(
  answer: GatewayAnswer,
  extra: ReadonlyArray<readonly [string, string]>,
): Http1Response {
  const header: Array<readonly [string, string]> = Object.entries(answer.headers);
  return { status: answer.status, header: header.concat(extra), body: answer.body };
}

/** All pieces of a body in one array (callers bound its length first). */
async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  let size = 0;
  for await (const piece of body) {
    pieces.push(piece);
    size += piece.length;
  }
  if (pieces.length === 1) return pieces[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

async function* oneChunk(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}
