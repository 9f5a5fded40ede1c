/**
 * Mounts etcd's JSON gateway on the client port's app without loading it:
 * the gateway (its codec, dispatcher, JSON value conversions and error
 * bodies, `gateway.ts` and its neighbours) is imported on the first
 * `/v3/` or `/v3beta/` request. Most members serve only gRPC, and every
 * module loaded at start stays resident for the life of the process.
 *
 * The HTTP/1.1 server calls the gateway's core directly, without a
 * Request and a Response (a measurable share of a JSON put, see
 * `../h1/adapt.ts`): {@link gatewayOf} gives it a core that loads the
 * gateway on its first call and afterwards calls the loaded core with no
 * extra step.
 *
 * @module
 */
import type { Hono } from "hono";
import { fetchEnv } from "../fetch_env.ts";
import type { GatewayCore, GatewayHandler, GatewayOptions } from "./gateway.ts";
import type { GatewayServices } from "./services.ts";

/** The core of the gateway each app serves, for servers that call it without web types. */
const cores = new WeakMap<Hono, GatewayCore>();

/**
 * The gateway registered on `app`, if any. The HTTP/1.1 server calls it
 * directly for `/v3/` and `/v3beta/` paths.
 */
export function gatewayOf(app: Hono): GatewayCore | undefined {
  return cores.get(app);
}

/** Records `core` as the gateway of `app` (`gateway.ts`'s registerGateway). */
export function setGatewayCore(app: Hono, core: GatewayCore): void {
  cores.set(app, core);
}

/** True for the paths the gateway serves (`/v3/...`, `/v3beta/...`). */
export function isGatewayPath(path: string): boolean {
  return path.startsWith("/v3/") || path.startsWith("/v3beta/");
}

/**
 * Serves the gateway under `/v3/` and `/v3beta/` of `app` over `services`,
 * loading it on the first request; the same as `registerGateway` once
 * loaded.
 */
export function mountGateway(app: Hono, services: GatewayServices, opts: GatewayOptions): void {
  let loaded: { core: GatewayCore; handler: GatewayHandler } | undefined;
  let loading: Promise<{ core: GatewayCore; handler: GatewayHandler }> | undefined;
  const load = () =>
    loading ??= import("./gateway.ts").then((m) => {
      const core = m.createGatewayCore(services, opts);
      loaded = { core, handler: m.fetchGateway(core) };
      return loaded;
    }, (err) => {
      // Tried again by the next request rather than failing every one after.
      loading = undefined;
      throw err;
    });
  cores.set(app, (req) => loaded ? loaded.core(req) : load().then((g) => g.core(req)));
  const route = (req: Request, env: unknown) =>
    loaded ? loaded.handler(req, fetchEnv(env)) : load().then((g) => g.handler(req, fetchEnv(env)));
  app.all("/v3/*", (c) => route(c.req.raw, c.env));
  app.all("/v3beta/*", (c) => route(c.req.raw, c.env));
}
