import assert from "node:assert/strict";
import { checkSnapshotOffThread, checkWorker } from "./off_thread_check.ts";
import { SnapshotStore } from "./snapshot.ts";

Deno.test("a check worker that cannot start leaves the check to this thread, never skips it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cairn-check-" });
  const url = checkWorker.url;
  try {
    const store = new SnapshotStore(dir);
    const path = await store.save(
      { term: 1, index: 5, confState: { voters: [1n], learners: [] } },
      new Uint8Array(100).fill(3),
    );
    // The worker checks it.
    let here = 0;
    await checkSnapshotOffThread(path, () => Promise.resolve(void here++));
    assert.equal(here, 0);
    // A build without the worker's module: the check runs here instead,
    // and its verdict (here, a rejection) is the answer.
    checkWorker.url = new URL("./no_such_worker.ts", import.meta.url).href;
    await assert.rejects(
      () => checkSnapshotOffThread(path, () => Promise.reject(new Error("checked here"))),
      /checked here/,
    );
  } finally {
    checkWorker.url = url;
    await Deno.remove(dir, { recursive: true });
  }
});
