/**
 * The access checks every HTTP request on the client port passes before
 * it is served, in etcd's order (its `accessController`): the Host
 * whitelist (cleartext connections only), then CORS headers, then a
 * preflight (OPTIONS) is answered on the spot. gRPC over HTTP/2 is not an
 * HTTP request in this sense: etcd hands those connections to its gRPC
 * server directly, so callers skip them (see {@link isNativeGrpc}).
 *
 * @module
 */
import { CorsPolicy, type HeaderPair } from "./cors.ts";
import {
  hostnameOf,
  HostWhitelist,
  MISDIRECTED_HEADERS,
  MISDIRECTED_REQUEST,
  misdirectedBody,
} from "./host_check.ts";

/** etcd's --cors and --host-whitelist, split at commas. */
export interface AccessOptions {
  /** Allowed origins; empty or "*" allows all (etcd's default is "*"). */
  cors: readonly string[];
  /** Allowed Host names; empty or "*" allows all (etcd's default is "*"). */
  hostWhitelist: readonly string[];
}

/** The facts of a request the checks look at. */
export interface AccessRequest {
  method: string;
  /** Host header (HTTP/2: `:authority`), undefined when absent. */
  host: string | undefined;
  /** Origin header, undefined when absent. */
  origin: string | undefined;
  /** The connection is TLS: etcd skips the Host check then. */
  secure: boolean;
}

/** What to do with a request. */
export type AccessDecision =
  /** Answer with this status, headers and body; do not serve. */
  | { kind: "refuse"; status: number; headers: HeaderPair[]; body: string }
  /** A preflight: answer 200 with these headers and no body. */
  | { kind: "preflight"; headers: HeaderPair[] }
  /** Serve it, adding these headers to the response. */
  | { kind: "serve"; headers: HeaderPair[] };

/** The Host and CORS checks of one client port configuration. */
export class AccessControl {
  readonly #cors: CorsPolicy;
  readonly #hosts: HostWhitelist;

  constructor(opts: AccessOptions) {
    this.#cors = new CorsPolicy(opts.cors);
    this.#hosts = new HostWhitelist(opts.hostWhitelist);
  }

  /** Decides what happens to one request. */
  decide(req: AccessRequest): AccessDecision {
    if (!req.secure && !this.#hosts.allows(req.host)) {
      return {
        kind: "refuse",
        status: MISDIRECTED_REQUEST,
        headers: [...MISDIRECTED_HEADERS],
        body: misdirectedBody(hostnameOf(req.host ?? "")),
      };
    }
    const headers = this.#cors.headersFor(req.origin);
    if (req.method === "OPTIONS") return { kind: "preflight", headers };
    return { kind: "serve", headers };
  }
}

/**
 * True for a gRPC call proper (HTTP/2, `application/grpc` or
 * `application/grpc+proto`...), which etcd's access checks never see;
 * gRPC-Web (`application/grpc-web...`) is an HTTP request like any other.
 */
export function isNativeGrpc(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith("application/grpc")) return false;
  const rest = contentType.charCodeAt(16);
  // "application/grpc" alone, or followed by "+codec" or ";params".
  return Number.isNaN(rest) || rest === 0x2b || rest === 0x3b;
}
