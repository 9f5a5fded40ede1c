import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { Hono } from "hono";
import { DASHBOARD_JS } from "./dashboard_bundle.gen.ts";
import { registerUi, UI_CSP } from "./mod.ts";

function app(): Hono {
  const a = new Hono();
  registerUi(a);
  return a;
}

Deno.test("ui: /ui, /ui/ and deep links answer the page, which names only local assets", async () => {
  for (const path of ["/ui", "/ui/", "/ui/keys/deep"]) {
    const res = await app().request(path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(res.headers.get("content-security-policy"), UI_CSP);
    const body = await res.text();
    assert.match(body, /<script type="module" src="\/ui\/dashboard.js">/);
    // Nothing from another origin: every src/href is a local path or data:.
    for (const [, url] of body.matchAll(/(?:src|href)="([^"]*)"/g)) {
      assert.ok(url.startsWith("/ui/") || url.startsWith("data:"), url);
    }
  }
});

Deno.test("ui: the script and stylesheet come from the program itself", async () => {
  const js = await app().request("/ui/dashboard.js");
  assert.equal(js.status, 200);
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(await js.text(), DASHBOARD_JS);
  const css = await app().request("/ui/dashboard.css");
  assert.equal(css.status, 200);
  assert.match(css.headers.get("content-type")!, /^text\/css/);
  assert.doesNotMatch(await css.text(), /url\(\s*["']?https?:/);
});

Deno.test("ui: the bundle loads nothing from the network", () => {
  // No remote module imports or fetches of absolute URLs in the script.
  assert.doesNotMatch(DASHBOARD_JS, /\bimport\s*\(?\s*["']https?:/);
  assert.doesNotMatch(DASHBOARD_JS, /\bfrom\s*["'](https?|npm|jsr|node):/);
  assert.ok(DASHBOARD_JS.length > 10_000);
});

Deno.test("ui: the policy lets the page talk only to its own origin", () => {
  assert.match(UI_CSP, /default-src 'none'/);
  assert.match(UI_CSP, /connect-src 'self'/);
  assert.match(UI_CSP, /script-src 'self'/);
});

Deno.test("ui: assets revalidate by ETag and come gzipped when the browser accepts it", async () => {
  const a = app();
  const first = await a.request("/ui/dashboard.js");
  const etag = first.headers.get("etag");
  assert.ok(etag);
  await first.body?.cancel();
  const again = await a.request("/ui/dashboard.js", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
  const gz = await a.request("/ui/dashboard.js", { headers: { "accept-encoding": "gzip, br" } });
  assert.equal(gz.headers.get("content-encoding"), "gzip");
  const packed = new Uint8Array(await gz.arrayBuffer());
  assert.ok(packed.length < DASHBOARD_JS.length / 2, `${packed.length} bytes gzipped`);
  assert.equal(new TextDecoder().decode(gunzipSync(packed)), DASHBOARD_JS);
});
