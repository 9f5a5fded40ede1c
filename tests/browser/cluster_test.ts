/**
 * The dashboard's cluster view in Chromium on a 3-member cluster: it names
 * the leader, and shows the new one after etcdctl moves leadership.
 */
import assert from "node:assert/strict";
import { destroyAll, leaderView, startCluster, waitForLeader } from "../harness/cluster.ts";
import { etcdctlOk } from "../harness/etcdctl.ts";
import type { Member } from "../harness/member.ts";
import { skipIfToolsMissing } from "../harness/tools.ts";
import { type Browser, launchChromium, newPage, skipIfNoChromium, waitUntil } from "./chromium.ts";

const ignore = skipIfToolsMissing("tests/browser/cluster_test.ts") ||
  skipIfNoChromium("tests/browser/cluster_test.ts");

Deno.test({
  name: "dashboard: the members view shows the leader change when etcdctl moves the leader",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const members: Member[] = await startCluster(3, ["--log-level=warn"]);
    let browser: Browser | undefined;
    try {
      const leader = await waitForLeader(members, 30_000);
      browser = await launchChromium();
      const page = await newPage(browser);
      // Served by a member that is not the leader: what it shows comes from its own status.
      const viewer = members.find((m) => m !== leader)!;
      await page.goto(`${viewer.clientUrl}/ui/#/cluster`);
      await page.waitForSelector("[data-testid=member-row]");
      assert.equal(await page.locator("[data-testid=member-row]").count(), 3);
      const shownLeader = () => page.locator("[data-testid=leader]").innerText();
      await waitUntil(async () => (await shownLeader()) === leader.name, 10_000, "the leader");
      const rows = page.locator(`[data-testid=member-row][data-leader=true]`);
      assert.equal(await rows.count(), 1);
      assert.equal(await rows.getAttribute("data-name"), leader.name);

      const target = members.find((m) => m !== leader && m !== viewer)!;
      const targetId = (await leaderView(target, 5_000))?.memberId;
      assert.ok(targetId, "the target's member id");
      await etcdctlOk(leader.endpoint, ["move-leader", targetId.toString(16)]);
      await waitUntil(
        async () => (await shownLeader()) === target.name,
        20_000,
        `the page to name ${target.name} as leader`,
      );
      assert.equal(await rows.getAttribute("data-name"), target.name);
    } finally {
      await browser?.close();
      await destroyAll(members);
    }
  },
});
