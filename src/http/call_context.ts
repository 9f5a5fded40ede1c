/**
 * What a service implementation may read of the call it serves, whichever
 * path carried it: request metadata (the `token` and `authorization`
 * headers) and the verified client certificate of the connection.
 * connect's `HandlerContext` has this shape, and the direct gRPC paths
 * (`grpc_unary.ts`, `grpc_bidi.ts`) build one per call.
 *
 * @module
 */
import { type ContextKey, createContextKey } from "@connectrpc/connect";

/** The parts of a call's context the services read. */
export interface CallContext {
  /** Request metadata by lowercase name. */
  readonly requestHeader: { get(name: string): string | null };
  /** Per-call values; {@link PEER_CERTIFICATE} holds the client certificate. */
  readonly values: { get<T>(key: ContextKey<T>): T };
}

/** The connection's verified client certificate (DER), when TLS carried one. */
export const PEER_CERTIFICATE: ContextKey<Uint8Array | undefined> = createContextKey<
  Uint8Array | undefined
>(undefined, { description: "verified client certificate (DER)" });

/** A call context over a header reader and the connection's certificate. */
export function callContext(
  header: (name: string) => string | null | undefined,
  peerCertificate: Uint8Array | undefined,
): CallContext {
  return {
    requestHeader: { get: (name) => header(name) ?? null },
    values: {
      get: <T>(key: ContextKey<T>): T =>
        (key.id === PEER_CERTIFICATE.id ? peerCertificate : key.defaultValue) as T,
    },
  };
}

/** A call context with no metadata and no certificate (in-process callers and tests). */
export const EMPTY_CALL: CallContext = callContext(() => undefined, undefined);
