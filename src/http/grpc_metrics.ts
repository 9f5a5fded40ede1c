/**
 * Counts the calls that connect's handlers serve (streaming methods not
 * on the direct paths, gRPC-Web and Connect clients) in the same
 * go-grpc-prometheus series as the direct paths: started, handled by
 * code, messages each way and, with `--metrics extensive`, handling time.
 * Message bytes (etcd_network_client_grpc_*_bytes_total) are counted on
 * the direct paths only, where the encoded sizes are at hand.
 *
 * @module
 */
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { type GrpcMethodStats, type GrpcServerMetrics, grpcType } from "../metrics/grpc.ts";

/** A connect interceptor feeding `metrics`. */
export function grpcMetricsInterceptor(metrics: GrpcServerMetrics): Interceptor {
  return (next) => async (req) => {
    const stats = metrics.method(
      grpcType(req.method.methodKind),
      req.service.typeName,
      req.method.name,
    );
    const startMs = stats.handling ? performance.now() : 0;
    stats.start(req.header.get("client-api-version") ?? undefined);
    if (!req.stream) stats.received.inc();
    let res;
    try {
      res = await next(
        req.stream ? { ...req, message: counted(req.message, () => stats.received.inc()) } : req,
      );
    } catch (err) {
      stats.finished(codeOf(err), startMs);
      throw err;
    }
    if (!res.stream) {
      stats.sent.inc();
      stats.finished(0, startMs);
      return res;
    }
    return { ...res, message: finishing(res.message, stats, startMs) };
  };
}

function codeOf(err: unknown): number {
  return ConnectError.from(err).code;
}

async function* counted<T>(source: AsyncIterable<T>, each: () => void): AsyncIterable<T> {
  for await (const m of source) {
    each();
    yield m;
  }
}

/** Passes the response stream through, counting messages and the call's end. */
async function* finishing<T>(
  source: AsyncIterable<T>,
  stats: GrpcMethodStats,
  startMs: number,
): AsyncIterable<T> {
  let code: number = 0;
  try {
    for await (const m of source) {
      stats.sent.inc();
      yield m;
    }
  } catch (err) {
    code = codeOf(err);
    throw err;
  } finally {
    stats.finished(code, startMs);
  }
}
