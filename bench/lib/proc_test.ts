import assert from "node:assert/strict";
import {
  parsePpid,
  spawnTracked,
  statusKiB,
  stopAll,
  stopTree,
  treePids,
  treeRss,
} from "./proc.ts";

Deno.test("parsePpid survives spaces and parentheses in the command name", () => {
  assert.equal(parsePpid("123 (deno) S 45 123 123 0 -1"), 45);
  assert.equal(parsePpid("123 (a b) c)) R 7 1 1"), 7);
  assert.equal(parsePpid("garbage"), null);
});

Deno.test("statusKiB reads a field and defaults to 0", () => {
  const status = "Name:\tx\nVmRSS:\t  60344 kB\nRssAnon:\t   38284 kB\n";
  assert.equal(statusKiB(status, "VmRSS"), 60344);
  assert.equal(statusKiB(status, "RssAnon"), 38284);
  assert.equal(statusKiB(status, "RssFile"), 0);
});

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).includes(") Z ");
  } catch {
    return false;
  }
}

Deno.test("a process tree is found, measured and stopped with its grandchildren", async () => {
  const child = spawnTracked(
    new Deno.Command("bash", { args: ["-c", "sleep 30 & sleep 30 & wait"], stdout: "null" }),
  );
  let pids: number[] = [];
  for (let i = 0; i < 100 && pids.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    pids = treePids(child.pid);
  }
  assert.equal(pids.length, 3);
  assert.equal(pids[0], child.pid);
  const rss = treeRss(child.pid);
  assert.equal(rss.processes, 3);
  assert.ok(rss.rssKiB > 0 && rss.rssKiB >= rss.anonKiB);
  assert.ok(rss.peakKiB >= rss.rssKiB);
  await stopTree(child, 1000);
  await new Promise((r) => setTimeout(r, 50));
  for (const p of pids) assert.equal(alive(p), false, `pid ${p} survived`);
  assert.deepEqual(treePids(child.pid), []);
});

Deno.test("stopAll ends every tracked child, even one ignoring SIGTERM", async () => {
  const stubborn = spawnTracked(
    new Deno.Command("bash", { args: ["-c", "trap '' TERM; sleep 30"], stdout: "null" }),
  );
  await new Promise((r) => setTimeout(r, 100));
  const started = performance.now();
  await stopAll(300);
  const status = await stubborn.status;
  assert.equal(status.success, false);
  assert.ok(performance.now() - started < 2000);
});
