/**
 * The plain-HTTP side of the client port (hono): etcd's `/health` and
 * `/version` endpoints. gRPC, gRPC-Web and Connect requests never reach
 * this app; see `handler.ts`.
 *
 * @module
 */
import { Hono } from "hono";
import { registerPprof } from "./pprof.ts";

/** etcd API version cairn implements; clients gate features on it. */
export const SERVER_VERSION = "3.5.17";
/** The cluster version cairn reports (etcd reports major.minor.0). */
export const CLUSTER_VERSION = "3.5.0";

/** What the HTTP endpoints need to know about the member. */
export interface HealthSource {
  /** Resolves when a linearizable read would succeed now; rejects otherwise. */
  checkHealth(): Promise<void>;
}

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  /** Serve CPU profiles under /debug/pprof (etcd: --enable-pprof, or --log-level debug). */
  pprof?: boolean;
}

/** Builds the hono app serving /health and /version (and /debug/pprof when asked). */
export function createHttpApp(member: HealthSource, opts: HttpAppOptions = {}): Hono {
  const app = new Hono();
  if (opts.pprof) registerPprof(app);
  app.get("/version", (c) => c.json({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }));
  registerHealth(app, member);
  return app;
}

/**
 * The app of a `--listen-metrics-urls` listener: etcd serves only /metrics
 * and /health there. cairn has no /metrics yet, so it answers /health.
 */
export function createMetricsApp(member: HealthSource): Hono {
  const app = new Hono();
  registerHealth(app, member);
  return app;
}

function registerHealth(app: Hono, member: HealthSource): void {
  app.get("/health", async (c) => {
    try {
      await member.checkHealth();
      return c.json({ health: "true" });
    } catch (err) {
      return c.json(
        { health: "false", reason: err instanceof Error ? err.message : String(err) },
        503,
      );
    }
  });
}
