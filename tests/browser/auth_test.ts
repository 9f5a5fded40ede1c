/**
 * The dashboard with auth on, in Chromium: it asks for a login, then acts
 * as that user (the token on each call): keys the user may read are shown,
 * and where the user lacks permission the error is shown, not a blank page.
 */
import assert from "node:assert/strict";
import { etcdctlOk } from "../harness/etcdctl.ts";
import { Member } from "../harness/member.ts";
import { skipIfToolsMissing } from "../harness/tools.ts";
import { type Browser, launchChromium, newPage, skipIfNoChromium } from "./chromium.ts";

const ignore = skipIfToolsMissing("tests/browser/auth_test.ts") ||
  skipIfNoChromium("tests/browser/auth_test.ts");

Deno.test({
  name: "dashboard: login with a user when auth is on; permission errors are shown",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
    let browser: Browser | undefined;
    try {
      const ctl = (...args: string[]) => etcdctlOk(m.endpoint, args);
      await ctl("put", "app/greeting", "hello alice");
      await ctl("put", "secret/k", "not for alice");
      await ctl("user", "add", "root", "--new-user-password=rootpw");
      await ctl("role", "add", "app-rw");
      await ctl("role", "grant-permission", "app-rw", "--prefix=true", "readwrite", "app/");
      await ctl("user", "add", "alice", "--new-user-password=alicepw");
      await ctl("user", "grant-role", "alice", "app-rw");
      await ctl("auth", "enable");

      browser = await launchChromium();
      const page = await newPage(browser);
      await page.goto(`${m.clientUrl}/ui/`);
      // Without a token the member refuses: the page asks for a login.
      await page.waitForSelector("[data-testid=login-user]");
      await page.fill("[data-testid=login-user]", "alice");
      await page.fill("[data-testid=login-password]", "wrong");
      await page.click("[data-testid=login-submit]");
      const error = page.locator("[data-testid=error]");
      await error.waitFor();
      assert.match(await error.innerText(), /authentication failed, invalid user ID or password/);

      await page.fill("[data-testid=login-password]", "alicepw");
      await page.click("[data-testid=login-submit]");
      await page.waitForSelector("[data-testid=user]");
      assert.equal(await page.locator("[data-testid=user]").innerText(), "alice");
      // The root listing needs read on every key, which alice lacks.
      await page.waitForSelector(`[data-testid=key-list][data-ready=true]`);
      await error.waitFor();
      assert.match(await error.innerText(), /etcdserver: permission denied/);

      await page.goto(`${m.clientUrl}/ui/#/keys?p=app/&k=app/greeting`);
      await page.waitForSelector(`[data-testid=key][data-key="app/greeting"]`);
      assert.equal(await page.locator("[data-testid=value]").innerText(), "hello alice");
      // Writing as alice works where she may write, and is alice's write.
      await page.click("[data-testid=edit]");
      await page.fill("[data-testid=edit-value]", "edited by alice");
      await page.click("[data-testid=save]");
      await page.waitForSelector("[data-testid=notice]");
      assert.equal(
        (await ctl("--user=root:rootpw", "get", "--print-value-only", "app/greeting")).trim(),
        "edited by alice",
      );
      // Outside her prefix the member says no, and the page says so.
      await page.goto(`${m.clientUrl}/ui/#/keys?p=secret/&k=secret/k`);
      await page.waitForSelector(`[data-testid=key-list][data-ready=true]`);
      await error.first().waitFor();
      assert.match(await error.first().innerText(), /etcdserver: permission denied/);
    } finally {
      await browser?.close();
      await m.destroy();
    }
  },
});
