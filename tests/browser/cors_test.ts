/**
 * A Connect-Web client page served from a different origin (a small static
 * server on another loopback port) reads and watches keys on a member
 * through CORS, in Chromium. The same page against a member whose --cors
 * names only some other origin is refused by the browser, so the test
 * fails if CORS is what is missing.
 */
import assert from "node:assert/strict";
import { etcdctlOk } from "../harness/etcdctl.ts";
import { Member } from "../harness/member.ts";
import { freePort } from "../harness/ports.ts";
import { REPO_ROOT, skipIfToolsMissing } from "../harness/tools.ts";
import { type Browser, launchChromium, newPage, skipIfNoChromium } from "./chromium.ts";

const ignore = skipIfToolsMissing("tests/browser/cors_test.ts") ||
  skipIfNoChromium("tests/browser/cors_test.ts");

const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>cors client</title>
<p id="value" data-state="loading"></p><ul id="events"></ul>
<script type="module" src="/client.js"></script>`;

/** Bundles cors_page.ts for the browser (the published client and Connect-Web in one file). */
async function bundlePage(dir: string): Promise<string> {
  const out = `${dir}/client.js`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "-o", out, "tests/browser/cors_page.ts"],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  return await Deno.readTextFile(out);
}

Deno.test({
  name: "cors: a Connect-Web page on another origin reads and watches keys",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cairn-cors-page-" });
    const open = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
    const closed = await Member.start({
      kind: "cairn",
      name: "m2",
      extraArgs: ["--log-level=warn", "--cors=http://127.0.0.1:1"],
    });
    let browser: Browser | undefined;
    const script = await bundlePage(dir);
    const port = freePort();
    const web = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/client.js") {
        return new Response(script, { headers: { "content-type": "text/javascript" } });
      }
      if (path === "/") {
        return new Response(PAGE_HTML, { headers: { "content-type": "text/html" } });
      }
      return new Response("not found", { status: 404 });
    });
    try {
      const origin = `http://127.0.0.1:${port}`;
      assert.notEqual(origin, new URL(open.clientUrl).origin);
      await etcdctlOk(open.endpoint, ["put", "cors/k", "read across origins"]);
      browser = await launchChromium();
      const page = await newPage(browser);
      const allowOrigins: string[] = [];
      page.on("response", (r) => {
        if (r.url().startsWith(open.clientUrl)) {
          allowOrigins.push(r.headers()["access-control-allow-origin"] ?? "(none)");
        }
      });
      await page.goto(`${origin}/?server=${encodeURIComponent(open.clientUrl)}`);
      const value = page.locator("#value");
      await page.waitForSelector("#value[data-state=read]");
      assert.equal(await value.innerText(), "read across origins");
      // An empty list is not "visible": wait for the element to be there.
      await page.waitForSelector("#events[data-state=watching]", { state: "attached" });
      await etcdctlOk(open.endpoint, ["put", "cors/w", "watched"]);
      await page.waitForSelector("#events li");
      assert.equal(await page.locator("#events li").first().innerText(), "cors/w=watched");
      assert.ok(allowOrigins.length >= 2, "the read and the watch went to the member");
      assert.ok(allowOrigins.every((o) => o === "*" || o === origin), allowOrigins.join(", "));

      // A member that allows only another origin: the browser refuses the answers.
      const page2 = await newPage(browser);
      await page2.goto(`${origin}/?server=${encodeURIComponent(closed.clientUrl)}`);
      await page2.waitForSelector("#value[data-state=error]");
      await page2.waitForSelector("#events[data-state=error]", { state: "attached" });
    } finally {
      await browser?.close();
      await web.shutdown();
      await open.destroy();
      await closed.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
