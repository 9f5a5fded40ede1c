/**
 * The dashboard in real headless Chromium against a real member, with
 * etcdctl on the other side: a key written by etcdctl is shown; an edit
 * made on the page is what etcdctl reads; a change made by etcdctl while
 * the page edits is reported and not overwritten; the live watch shows
 * etcdctl's put within a second; a lease counts down and its key goes at
 * expiry.
 */
import assert from "node:assert/strict";
import { etcdctlOk } from "../harness/etcdctl.ts";
import { Member } from "../harness/member.ts";
import { skipIfToolsMissing } from "../harness/tools.ts";
import {
  type Browser,
  launchChromium,
  newPage,
  type Page,
  skipIfNoChromium,
  waitUntil,
} from "./chromium.ts";

const ignore = skipIfToolsMissing("tests/browser/dashboard_test.ts") ||
  skipIfNoChromium("tests/browser/dashboard_test.ts");

/** The value etcdctl reads for `key` ("" when absent). */
async function get(m: Member, key: string): Promise<string> {
  return (await etcdctlOk(m.endpoint, ["get", "--print-value-only", key])).replace(/\n$/, "");
}

/** Opens the key browser on `prefix` with `key` selected, once its value is on screen. */
async function openKey(page: Page, m: Member, prefix: string, key: string): Promise<void> {
  await page.goto(`${m.clientUrl}/ui/#/keys?p=${prefix}&k=${encodeURIComponent(key)}`);
  await page.waitForSelector(`[data-testid=key-list][data-ready=true]`);
  await page.waitForSelector(`[data-testid=value]`);
}

Deno.test({
  name: "dashboard: keys, edits, concurrent edits, live watch and leases in Chromium",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const page = await newPage(browser);
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));

      await t.step("shows a key written by etcdctl", async () => {
        await etcdctlOk(m.endpoint, ["put", "app/config", '{"replicas":3,"name":"web"}']);
        await etcdctlOk(m.endpoint, ["put", "app/db/url", "postgres://db"]);
        await page.goto(`${m.clientUrl}/ui/`);
        // The root lists the directory; inside it, the key and the sub-directory.
        await page.click(`[data-testid=dir][data-key="app/"]`);
        await page.click(`[data-testid=key][data-key="app/config"]`);
        await page.waitForSelector(`[data-testid=dir][data-key="app/db/"]`);
        const shown = await page.locator("[data-testid=value]").innerText();
        assert.deepEqual(JSON.parse(shown), { replicas: 3, name: "web" });
        assert.match(shown, /\n {2}"replicas": 3/, "JSON is pretty-printed");
      });

      await t.step("an edit made on the page is what etcdctl reads", async () => {
        await openKey(page, m, "app/", "app/db/url");
        await page.click("[data-testid=edit]");
        await page.fill("[data-testid=edit-value]", "postgres://db-2:5432");
        await page.click("[data-testid=save]");
        await page.waitForSelector("[data-testid=notice]");
        assert.equal(await get(m, "app/db/url"), "postgres://db-2:5432");
      });

      await t.step("a concurrent edit is reported, not overwritten", async () => {
        await etcdctlOk(m.endpoint, ["put", "app/flag", "v1"]);
        await openKey(page, m, "app/", "app/flag");
        await page.click("[data-testid=edit]");
        await page.fill("[data-testid=edit-value]", "from-the-page");
        // Someone else writes while the page holds its edit.
        await etcdctlOk(m.endpoint, ["put", "app/flag", "from-etcdctl"]);
        await page.click("[data-testid=save]");
        const conflict = page.locator("[data-testid=conflict]");
        await conflict.waitFor();
        assert.match(await conflict.innerText(), /Concurrent change/);
        assert.equal(
          await page.locator("[data-testid=conflict-value]").innerText(),
          "from-etcdctl",
        );
        assert.equal(await get(m, "app/flag"), "from-etcdctl", "the other write survives");
        // A delete from a stale view is refused the same way.
        await page.click("text=Discard my edit");
        await etcdctlOk(m.endpoint, ["put", "app/flag", "third"]);
        await page.click("[data-testid=delete]");
        await page.click("[data-testid=confirm-ok]");
        await conflict.waitFor();
        assert.equal(await get(m, "app/flag"), "third");
      });

      await t.step("the live watch shows a put made by etcdctl within a second", async () => {
        await page.goto(`${m.clientUrl}/ui/#/watch`);
        await page.fill("[data-testid=watch-key]", "live/");
        await page.click("[data-testid=watch-start]");
        await page.waitForSelector("[data-testid=watch-state][data-state=watching]");
        await etcdctlOk(m.endpoint, ["put", "live/a", "first"]);
        // etcdctl exits right after the member acknowledged the put.
        const acked = Date.now();
        const row = page.locator(`[data-testid=watch-event][data-key="live/a"]`).first();
        await row.waitFor({ timeout: 10_000 });
        const receivedAt = Number(await row.getAttribute("data-received-at"));
        assert.ok(receivedAt - acked < 1000, `shown ${receivedAt - acked} ms after the put`);
        assert.equal(await row.locator("[data-testid=watch-value]").innerText(), "first");
        // The previous value comes with the next event.
        await etcdctlOk(m.endpoint, ["put", "live/a", "second"]);
        const latest = page.locator(`[data-testid=watch-event][data-key="live/a"]`).first();
        const events = page.locator(`[data-testid=watch-event][data-key="live/a"]`);
        await waitUntil(async () => (await events.count()) === 2, 10_000, "the second event");
        assert.equal(await latest.locator("[data-testid=watch-value]").innerText(), "second");
        assert.equal(await latest.locator("[data-testid=watch-prev]").innerText(), "first");
        await etcdctlOk(m.endpoint, ["del", "live/a"]);
        await page.waitForSelector(
          `[data-testid=watch-event][data-type=DELETE][data-key="live/a"]`,
        );
      });

      await t.step("a lease id is shown as etcdctl prints it, leading zeros kept", async () => {
        // etcdctl prints lease ids as 16 hex digits; a random id below 2^60
        // (one in sixteen) starts with a zero the page once dropped, so the
        // countdown step below missed its row about once in sixteen runs.
        // This id has the zero every time.
        const id = "0123456789abcdef";
        await page.goto(`${m.clientUrl}/ui/#/leases`);
        await page.waitForSelector(`[data-testid=grant]`);
        const res = await fetch(`${m.clientUrl}/v3/lease/grant`, {
          method: "POST",
          body: JSON.stringify({ TTL: 120, ID: BigInt("0x" + id).toString() }),
        });
        assert.equal(res.status, 200, await res.text());
        const listed = await etcdctlOk(m.endpoint, ["lease", "list"]);
        assert.ok(listed.split("\n").includes(id), `etcdctl lease list: ${listed}`);
        const row = page.locator(`[data-testid=lease-row][data-lease="${id}"]`);
        await row.waitFor();
        assert.equal(await row.locator("code.id").innerText(), id);
        await etcdctlOk(m.endpoint, ["lease", "revoke", id]);
        await row.waitFor({ state: "detached" });
      });

      await t.step("a lease counts down and its key disappears at expiry", async () => {
        // The page first, then the lease: on a busy machine the page's first
        // load took longer than the lease lived (CI at load ~10); its 2 s
        // polling then finds the lease while it counts down.
        await page.goto(`${m.clientUrl}/ui/#/leases`);
        await page.waitForSelector(`[data-testid=grant]`);
        const granted = await etcdctlOk(m.endpoint, ["lease", "grant", "15"]);
        const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
        assert.ok(id, granted);
        await etcdctlOk(m.endpoint, ["put", "--lease=" + id, "leased/k", "temporary"]);
        const row = page.locator(`[data-testid=lease-row][data-lease="${id}"]`);
        await row.waitFor();
        assert.equal(await row.locator("[data-testid=lease-key]").innerText(), "leased/k");
        const ttl = () =>
          row.locator("[data-testid=lease-ttl]").getAttribute("data-ttl").then(Number);
        const first = await ttl();
        assert.ok(first > 0 && first <= 15, `TTL ${first}`);
        await waitUntil(async () => (await ttl()) < first, 5_000, "the TTL to count down");
        // At expiry the row goes, and the key with it.
        await row.waitFor({ state: "detached", timeout: 45_000 });
        assert.equal(await get(m, "leased/k"), "");
        await page.goto(`${m.clientUrl}/ui/#/keys?p=leased/`);
        await page.waitForSelector(`[data-testid=key-list][data-ready=true]`);
        assert.equal(await page.locator("[data-testid=key]").count(), 0);
      });

      assert.deepEqual(pageErrors, [], "no uncaught errors on the page");
    } finally {
      await browser?.close();
      await m.destroy();
    }
  },
});
