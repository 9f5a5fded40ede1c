/**
 * Routes whose code is loaded on their first request. An idle member
 * should hold only what it serves: every module a member loads at start
 * stays resident (its source text, its compiled functions and the runtime
 * code that loaded it), and most members never serve pprof or the
 * dashboard. Measured on Deno 2.9: about 20 KiB of resident memory per
 * module loaded, plus what its code builds.
 *
 * @module
 */
import { Hono } from "hono";

/** Registers routes on an app (the signature of `registerPprof`, `registerUi`). */
export type RouteRegistrar = (app: Hono) => void;

/**
 * Serves every request under `patterns` (hono path patterns, any method)
 * from the routes `load` registers, loading them on the first such
 * request. A request they do not route answers hono's own 404, as the
 * app would have had they been registered on it directly.
 */
export function mountLazy(
  app: Hono,
  patterns: readonly string[],
  load: () => Promise<RouteRegistrar>,
): void {
  let sub: Hono | undefined;
  let loading: Promise<Hono> | undefined;
  const ready = () =>
    loading ??= load().then((register) => {
      const routes = new Hono();
      register(routes);
      sub = routes;
      return routes;
    }, (err) => {
      // A failed load is tried again by the next request, not remembered.
      loading = undefined;
      throw err;
    });
  for (const pattern of patterns) {
    app.all(pattern, async (c) => (sub ?? await ready()).fetch(c.req.raw, c.env));
  }
}
