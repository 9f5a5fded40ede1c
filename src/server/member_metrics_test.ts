import assert from "node:assert/strict";
import { ServerMetrics } from "../metrics/etcd.ts";
import type { Wal } from "../storage/wal.ts";
import { slowSyncWarning, timeWal } from "./member_metrics.ts";

Deno.test("a WAL fdatasync over one second is logged as etcd's slow fdatasync warning", async () => {
  const m = new ServerMetrics({ serverVersion: "3.5.0", clusterVersion: "3.5" });
  const wal: Pick<Wal, "onSync" | "onWrite"> = {};
  const warned: [string, Record<string, unknown>][] = [];
  timeWal(m, wal, { warn: (msg, fields) => warned.push([msg, { ...fields }]) });
  wal.onSync!(0.004);
  wal.onSync!(1);
  assert.deepEqual(warned, [], "syncs of at most one second are not slow");
  wal.onSync!(1.8);
  assert.deepEqual(warned, [["slow fdatasync", { took: "1.8s", "expected-duration": "1s" }]]);
  const text = await m.registry.render();
  assert.match(
    text,
    /^etcd_disk_wal_fsync_duration_seconds_count 3$/m,
    "every sync is still timed",
  );
});

Deno.test("slow fdatasync durations are written as Go's time.Duration", () => {
  assert.equal(slowSyncWarning(0.999), undefined);
  assert.equal(slowSyncWarning(Number.NaN), undefined);
  assert.deepEqual(slowSyncWarning(2.0004), { took: "2s", "expected-duration": "1s" });
  assert.deepEqual(slowSyncWarning(75.25), { took: "1m15.25s", "expected-duration": "1s" });
});
