/**
 * The dashboard on the client port: `/ui`, `/ui/` and any path below it
 * answer the page, whose script and stylesheet are served from the program
 * itself (the script is bundled at build time into
 * dashboard_bundle.gen.ts), so the `deno compile` executable carries them
 * and the page loads nothing from anywhere else.
 *
 * The Content-Security-Policy says the same to the browser: scripts,
 * styles and connections only to this origin.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { DASHBOARD_JS } from "./dashboard_bundle.gen.ts";
import { DASHBOARD_CSS, INDEX_HTML } from "./page.ts";

/** The policy every dashboard response carries. */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": UI_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Mounts the dashboard's routes on the client port's app. */
export function registerUi(app: Hono): void {
  const page = (c: Context) =>
    c.body(INDEX_HTML, 200, {
      ...SECURITY_HEADERS,
      "content-type": "text/html; charset=utf-8",
      // The page names its assets without versions: always revalidate.
      "cache-control": "no-cache",
    });
  app.get("/ui/dashboard.js", (c) =>
    c.body(DASHBOARD_JS, 200, {
      ...SECURITY_HEADERS,
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-cache",
    }));
  app.get("/ui/dashboard.css", (c) =>
    c.body(DASHBOARD_CSS, 200, {
      ...SECURITY_HEADERS,
      "content-type": "text/css; charset=utf-8",
      "cache-control": "no-cache",
    }));
  app.get("/ui", page);
  app.get("/ui/", page);
  // Deep links (e.g. a bookmarked /ui/keys) get the page; routes live in the hash.
  app.get("/ui/*", page);
}
