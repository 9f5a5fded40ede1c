import assert from "node:assert/strict";
import {
  decodeStore,
  decodeStoreSteps,
  encodeStore,
  encodeStoreInto,
  storeChunks,
  storeSize,
} from "./codec.ts";
import { runSteps, runStepsPaused, type Steps } from "./steps.ts";
import { MvccStore } from "./store.ts";
import { delReq, putReq } from "./test_helpers.ts";

/** Many versions (more than one step of sizing and decoding), some leased, some deleted. */
function bigStore(): MvccStore {
  const st = new MvccStore();
  for (let i = 0; i < 6000; i++) {
    const lease = i % 1000 === 0 ? BigInt(i + 1) : 0n;
    st.put(putReq(`k${i % 4500}`, "v".repeat(i % 70), { lease }));
  }
  st.deleteRange(delReq("k7"));
  return st;
}

/** How many times `steps` yields before it returns. */
function yields<T>(steps: Steps<T>): { n: number; value: T } {
  let n = 0;
  for (;;) {
    const r = steps.next();
    if (r.done) return { n, value: r.value };
    n++;
  }
}

Deno.test("the store encoding is sized exactly, written in steps, and equal to the chunked one", () => {
  const st = bigStore();
  const view = st.pointInTime();
  const size = yields(storeSize(view));
  assert.ok(size.n >= 2, `sizing yields between steps (${size.n})`);
  const whole = encodeStore(view);
  assert.equal(whole.length, size.value);
  // Written at an offset inside a larger buffer, yielding about every 4 KiB.
  const out = new Uint8Array(size.value + 7).fill(0xee);
  const enc = yields(encodeStoreInto(view, out, 7, size.value, 4096));
  // A step ends at the first version past 4 KiB (versions here are under 100 B).
  const most = Math.floor(size.value / 4096);
  assert.ok(enc.n <= most && enc.n >= most - 2, `${enc.n} yields for ${size.value} bytes`);
  assert.equal(enc.value, out.length);
  assert.deepEqual(out.subarray(7), whole);
  assert.ok(out.subarray(0, 7).every((x) => x === 0xee), "nothing written before the offset");
  const chunks = [...storeChunks(view, 4096)];
  assert.ok(chunks.length > 2);
  assert.deepEqual(chunks.reduce((n, c) => n + c.length, 0), whole.length);
});

Deno.test("an encoding that does not fill its sized room is refused, not written short", () => {
  const st = bigStore();
  const view = st.pointInTime();
  const size = runSteps(storeSize(view));
  assert.throws(
    () => runSteps(encodeStoreInto(view, new Uint8Array(size + 10), 0, size + 10)),
    /encoding took/,
  );
  assert.throws(
    () => runSteps(encodeStoreInto(view, new Uint8Array(size), 0, size + 1)),
    /too small/,
  );
});

Deno.test("decoding in steps yields often and restores the same store, leases attached only when asked", async () => {
  const st = bigStore();
  const bytes = st.serialize();
  const d = yields(decodeStoreSteps(bytes));
  assert.ok(d.n >= 3, `${d.n} yields`);
  assert.equal(d.value.currentRev, decodeStore(bytes).currentRev);

  const attached: bigint[] = [];
  let pauses = 0;
  const back = await MvccStore.restoreInSteps(bytes, () => {
    pauses++;
    return Promise.resolve();
  }, { attach: (lease) => attached.push(lease) });
  assert.ok(pauses >= 3, `${pauses} pauses`);
  assert.equal(back.hash(), st.hash());
  assert.deepEqual(attached, [], "no lease attached before attachLeases");
  back.attachLeases();
  const sync: bigint[] = [];
  MvccStore.restore(bytes, { attach: (lease) => sync.push(lease) });
  assert.ok(sync.length > 0);
  assert.deepEqual(attached.sort(), sync.sort());
});

Deno.test("a rejecting pause abandons a decoding in steps", async () => {
  const bytes = bigStore().serialize();
  let calls = 0;
  await assert.rejects(
    runStepsPaused(decodeStoreSteps(bytes), () => {
      if (++calls === 2) return Promise.reject(new Error("stopped"));
      return Promise.resolve();
    }),
    /stopped/,
  );
  assert.equal(calls, 2);
});
