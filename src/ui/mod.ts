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
import { gzipSync } from "node:zlib";
import type { Context, Hono } from "hono";
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

/** A static file of the dashboard, with its validator and (once asked for) its gzip form. */
interface Asset {
  body: string;
  type: string;
  etag: string;
  gzip?: Uint8Array;
}

function asset(body: string, type: string): Asset {
  return { body, type, etag: `"${fnv1a(body)}-${body.length.toString(16)}"` };
}

/** FNV-1a over the UTF-16 code units: a cheap, stable validator for a fixed text. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/**
 * Answers an asset: 304 when the browser holds this version, gzip when it
 * accepts it (the script shrinks to about a quarter, which matters over a
 * real network, not on loopback).
 */
function serveAsset(c: Context, a: Asset): Response {
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    "content-type": a.type,
    // Unversioned names: always revalidate, cheaply thanks to the ETag.
    "cache-control": "no-cache",
    etag: a.etag,
    vary: "accept-encoding",
  };
  if (c.req.header("if-none-match") === a.etag) return c.body(null, 304, headers);
  if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
    a.gzip ??= new Uint8Array(gzipSync(a.body));
    return c.body(a.gzip as Uint8Array<ArrayBuffer>, 200, {
      ...headers,
      "content-encoding": "gzip",
    });
  }
  return c.body(a.body, 200, headers);
}

/** Mounts the dashboard's routes on the client port's app. */
export function registerUi(app: Hono): void {
  const page = (c: Context) =>
    c.body(INDEX_HTML, 200, {
      ...SECURITY_HEADERS,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
    });
  // The script (190 kB, held by V8 as two-byte strings: ~0.75 MiB) is
  // loaded on its first request: most members never serve the dashboard.
  let js: Promise<Asset> | undefined;
  const script = () =>
    js ??= import("./dashboard_bundle.gen.ts").then((m) =>
      asset(m.DASHBOARD_JS, "text/javascript; charset=utf-8")
    );
  const css = asset(DASHBOARD_CSS, "text/css; charset=utf-8");
  app.get("/ui/dashboard.js", async (c) => serveAsset(c, await script()));
  app.get("/ui/dashboard.css", (c) => serveAsset(c, css));
  app.get("/ui", page);
  app.get("/ui/", page);
  // Deep links (e.g. a bookmarked /ui/keys) get the page; routes live in the hash.
  app.get("/ui/*", page);
}
