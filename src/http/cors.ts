/**
 * CORS on the client port, with etcd's semantics (`--cors`, etcd's
 * `AccessController.OriginAllowed` and `addCORSHeader`):
 *
 * - an empty list, or one holding "*", allows every origin: every HTTP
 *   response carries `Access-Control-Allow-Origin: *`, whether the request
 *   had an Origin header or not;
 * - otherwise a request whose Origin header is exactly one of the listed
 *   strings gets that origin echoed back; any other gets no CORS headers;
 * - a preflight (OPTIONS) is answered 200 with an empty body for every
 *   path, allowed or not (the browser enforces the missing headers).
 *
 * etcd allows the request headers `accept, content-type, authorization`;
 * cairn also serves Connect and gRPC-Web to browsers, so their request
 * headers are allowed too, and the response headers their clients must
 * read (`Grpc-Status`, `Grpc-Message`, `Grpc-Status-Details-Bin`, the
 * encodings) are exposed: @connectrpc/connect's `cors` lists, which
 * connect-web and gRPC-Web clients are written against. The allowed
 * methods stay etcd's (`POST, GET, OPTIONS, PUT, DELETE`), a superset of
 * the `POST, GET` Connect needs, so gateway preflights answer byte for
 * byte as etcd's.
 *
 * @module
 */
import { cors as connectCors } from "@connectrpc/connect";

/** The methods etcd allows. */
export const CORS_ALLOW_METHODS = "POST, GET, OPTIONS, PUT, DELETE";

/** etcd's allowed request headers (its `addCORSHeader`), in its order. */
const ETCD_ALLOW_HEADERS = ["accept", "content-type", "authorization"];

/**
 * etcd's allowed request headers, then every one Connect and gRPC-Web
 * clients send (connect's list, and the encodings grpc-web clients name).
 */
export const CORS_ALLOW_HEADERS: string = unique([
  ...ETCD_ALLOW_HEADERS,
  ...connectCors.allowedHeaders,
  "connect-accept-encoding",
  "connect-content-encoding",
  "grpc-accept-encoding",
  "grpc-encoding",
]).join(", ");

/**
 * Response headers browsers may show a cross-origin script: gRPC-Web's
 * status lives in them (connect's list).
 */
export const CORS_EXPOSE_HEADERS: string = unique(connectCors.exposedHeaders).join(", ");

/** Lower-cased, first occurrence kept. */
function unique(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

/** A response header as name and value. */
export type HeaderPair = readonly [string, string];

/** Which origins may read the client port's responses. */
export class CorsPolicy {
  readonly #all: boolean;
  readonly #origins: ReadonlySet<string>;

  /** `origins` as given to --cors (already split at commas). */
  constructor(origins: readonly string[]) {
    this.#origins = new Set(origins);
    this.#all = this.#origins.size === 0 || this.#origins.has("*");
  }

  /** True when a request with this Origin header (undefined when absent) may be answered. */
  allows(origin: string | undefined): boolean {
    return this.#all || this.#origins.has(origin ?? "");
  }

  /**
   * The CORS headers for a response to a request carrying `origin` (its
   * Origin header, undefined when absent), or an empty list.
   */
  headersFor(origin: string | undefined): HeaderPair[] {
    if (this.#all) return corsHeaders("*");
    // etcd looks the header value up as is; a missing header is "".
    if (this.#origins.has(origin ?? "")) return corsHeaders(origin ?? "");
    return [];
  }
}

function corsHeaders(origin: string): HeaderPair[] {
  return [
    ["access-control-allow-methods", CORS_ALLOW_METHODS],
    ["access-control-allow-origin", origin],
    ["access-control-allow-headers", CORS_ALLOW_HEADERS],
    ["access-control-expose-headers", CORS_EXPOSE_HEADERS],
  ];
}
