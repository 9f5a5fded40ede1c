/**
 * What the client port's servers hand the hono app beside each `Request`
 * (hono's `c.env`): the facts a Request can carry only at a price. Deno
 * 2.9 builds a Request given an AbortSignal in about four times the time
 * of one without (it makes a dependent signal per request), and a body
 * already in memory is cheaper to take from here than to read back out of
 * the Request. Handlers fall back to the Request's own when a field is
 * absent.
 *
 * @module
 */

/** The second argument of the app's `fetch`. */
export interface FetchEnv {
  /** Aborted when the client goes away or the answer cannot be written. */
  signal?: AbortSignal;
  /** The whole request body, when the server already holds it (the Request carries it too). */
  body?: Uint8Array;
}

/** The env of a hono context, if the server passed one. */
export function fetchEnv(env: unknown): FetchEnv | undefined {
  return typeof env === "object" && env !== null ? env as FetchEnv : undefined;
}

/** The bodies of responses made by {@link bytesResponse}. */
const knownBodies = new WeakMap<Response, Uint8Array>();

/**
 * A response of `bytes` whose body the HTTP/1.1 server can take back
 * without reading it out of a stream ({@link knownBody}); it also states
 * its Content-Length.
 */
export function bytesResponse(
  bytes: Uint8Array<ArrayBuffer>,
  status: number,
  headers: Record<string, string>,
): Response {
  headers["content-length"] = String(bytes.length);
  const res = new Response(bytes, { status, headers });
  knownBodies.set(res, bytes);
  return res;
}

/** The body `res` was made with by {@link bytesResponse}, if it was. */
export function knownBody(res: Response): Uint8Array | undefined {
  return knownBodies.get(res);
}
