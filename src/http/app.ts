/**
 * The plain-HTTP side of the client port: one hono app for everything that
 * is not a gRPC, gRPC-Web or Connect call, over HTTP/1.1 and HTTP/2 alike
 * (`handler.ts` routes): etcd's JSON gateway (`/v3/`, `/v3beta/`), the
 * dashboard (`/ui`), pprof, and etcd's `/version`, `/metrics` and health
 * endpoints (`/health`, `/livez`, `/readyz` and one path per named check),
 * answered with etcd 3.5's status codes, bodies and content types. The
 * checks themselves live in `src/server/health.ts`.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { CheckType, HealthChecker } from "../server/health.ts";
import { CLUSTER_VERSION, SERVER_VERSION } from "../version.ts";
import { mountGateway } from "./gateway/mount.ts";
import type { GatewayServices } from "./gateway/services.ts";
import { mountLazy } from "./lazy_routes.ts";
import { PPROF_PREFIX } from "./pprof_paths.ts";

export { CLUSTER_VERSION, SERVER_VERSION };

/** What the HTTP endpoints read. */
export interface HttpSources {
  /** etcd's health checks of the member. */
  health: HealthChecker;
  /** The Prometheus text of the member's metrics. */
  metrics: { render(): Promise<string> };
}

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  /** Serve CPU profiles under /debug/pprof (etcd: --enable-pprof, or --log-level debug). */
  pprof?: boolean;
  /** Serve etcd's JSON gateway under /v3/ (and /v3beta/) from these services. */
  gateway?: { services: GatewayServices; readMaxBytes: number };
}

/** Content type of the Prometheus text format, as Go's promhttp sends it. */
const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
/** What Go's net/http sends for text, sniffed or from http.Error. */
const TEXT = "text/plain; charset=utf-8";

/**
 * Builds the hono app of the client port. The profiler, the JSON gateway
 * and the dashboard are loaded on their first request (`lazy_routes.ts`
 * says why); /version, /metrics and the health checks are served at once.
 */
export function createHttpApp(src: HttpSources, opts: HttpAppOptions = {}): Hono {
  const app = new Hono();
  if (opts.pprof) {
    mountLazy(app, [`${PPROF_PREFIX}/*`], async () => (await import("./pprof.ts")).registerPprof);
  }
  if (opts.gateway) mountGateway(app, opts.gateway.services, opts.gateway);
  app.get("/version", (c) => c.json({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }));
  registerMetrics(app, src);
  registerHealth(app, src.health);
  mountLazy(app, ["/ui", "/ui/*"], async () => (await import("../ui/mod.ts")).registerUi);
  return app;
}

/**
 * The app of a `--listen-metrics-urls` listener: etcd 3.5 serves /metrics
 * and the health endpoints there, and nothing else.
 */
export function createMetricsApp(src: HttpSources): Hono {
  const app = new Hono();
  registerMetrics(app, src);
  registerHealth(app, src.health);
  return app;
}

function registerMetrics(app: Hono, src: HttpSources): void {
  app.get("/metrics", async (c) => {
    const text = await src.metrics.render();
    return c.body(text, 200, { "content-type": METRICS_CONTENT_TYPE });
  });
}

/** etcd's answer to anything but GET on a health path. */
function methodNotAllowed(c: Context): Response {
  return c.body("Method Not Allowed\n", 405, {
    allow: "GET",
    "content-type": TEXT,
    "x-content-type-options": "nosniff",
  });
}

/** Non-empty values of a repeated query parameter. */
function querySet(c: Context, name: string): Set<string> {
  return new Set((c.req.queries(name) ?? []).filter((v) => v.length > 0));
}

function registerHealth(app: Hono, health: HealthChecker): void {
  app.all("/health", async (c) => {
    if (c.req.method !== "GET") return methodNotAllowed(c);
    const h = await health.health(querySet(c, "exclude"), c.req.query("serializable") === "true");
    const body = JSON.stringify(h);
    if (h.health !== "true") {
      return c.body(`${body}\n`, 503, {
        "content-type": TEXT,
        "x-content-type-options": "nosniff",
      });
    }
    return c.body(body, 200, { "content-type": TEXT });
  });
  for (const type of ["livez", "readyz"] as CheckType[]) {
    const root = `/${type}`;
    app.all(root, (c) => {
      if (c.req.method !== "GET") return methodNotAllowed(c);
      return answerChecks(c, health, type, health.filter(type, querySet(c, "exclude")));
    });
    for (const name of health.names(type)) {
      app.all(`${root}/${name}`, (c) => {
        if (c.req.method !== "GET") return methodNotAllowed(c);
        return answerChecks(c, health, type, [name]);
      });
    }
  }
}

/** 200 "ok" (after each check's line with ?verbose), or 503 with every check's line. */
async function answerChecks(
  c: Context,
  health: HealthChecker,
  type: CheckType,
  names: string[],
): Promise<Response> {
  const out = await health.run(type, names);
  const headers = { "content-type": TEXT, "x-content-type-options": "nosniff" };
  // etcd always explains a failure, and an success only when asked (?verbose).
  if (!out.ok) return c.body(`${out.reason}\n`, 503, headers);
  const verbose = c.req.queries("verbose") !== undefined;
  return c.body(`${verbose ? out.reason : ""}ok\n`, 200, headers);
}
