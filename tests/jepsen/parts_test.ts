/**
 * The pieces of the Jepsen run that need no processes: reading etcdctl's
 * answers, deciding when a failed write was certainly never sent, key
 * rotation, the seeded choices, and planting a stale read.
 */
import assert from "node:assert/strict";
import { checkKey } from "../lin/checker.ts";
import type { Op } from "../lin/history.ts";
import { compareLine, KeyPool, neverSent, parseTxn } from "./client.ts";
import { Rand } from "./rand.ts";
import { plantStaleRead } from "./run.ts";

Deno.test("jepsen client: etcdctl txn output gives the swap's answer", () => {
  assert.equal(parseTxn("SUCCESS\n\nOK\n"), true);
  assert.equal(parseTxn("FAILURE\n\n"), false);
  assert.equal(parseTxn(""), undefined);
  assert.equal(parseTxn("Error: context deadline exceeded\n"), undefined);
});

Deno.test("jepsen client: swaps compare the value, or version 0 for an absent key", () => {
  assert.equal(compareLine("k/1", "2.5"), 'value("k/1") = "2.5"');
  assert.equal(compareLine("k/1", null), 'version("k/1") = "0"');
});

Deno.test("jepsen client: only a balancer error means the request was never sent", () => {
  const ctl = (stderr: string) => ({ code: 1, stdout: "", stderr });
  // etcdctl 3.4 against a closed port (seen here): no connection was ever ready.
  assert.equal(
    neverSent(ctl(
      '{"level":"warn","msg":"retrying of unary invoker failed","attempt":0,"error":"rpc error: ' +
        "code = DeadlineExceeded desc = latest balancer error: all SubConns are in " +
        'TransientFailure"}\nError: context deadline exceeded\n',
    )),
    true,
  );
  // Against a SIGSTOPped member the request went out: the outcome is unknown.
  assert.equal(
    neverSent(ctl(
      '{"level":"warn","error":"rpc error: code = DeadlineExceeded desc = context deadline ' +
        'exceeded"}\nError: context deadline exceeded\n',
    )),
    false,
  );
  assert.equal(neverSent(ctl("Error: etcdserver: request timed out\n")), false);
});

Deno.test("jepsen keys: each key gets its quota of ops, then a fresh key replaces it", () => {
  const pool = new KeyPool("p/", 2, 3, new Rand(7));
  const counts = new Map<string, number>();
  for (let i = 0; i < 60; i++) {
    const key = pool.pick();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.ok([...counts.values()].every((n) => n <= 3), JSON.stringify([...counts]));
  assert.equal(new Set(pool.all).size, pool.all.length, "keys are never reused");
  assert.ok(pool.all.length >= 20, `${pool.all.length} keys`);
  assert.ok(pool.all.every((k) => k.startsWith("p/")));
});

Deno.test("jepsen rand: a seed gives the same choices", () => {
  const a = new Rand(42);
  const b = new Rand(42);
  const seqA = Array.from({ length: 20 }, () => a.int(0, 9));
  const seqB = Array.from({ length: 20 }, () => b.int(0, 9));
  assert.deepEqual(seqA, seqB);
  assert.notDeepEqual(seqA, Array.from({ length: 20 }, () => new Rand(43).int(0, 9)));
  assert.deepEqual([...new Rand(1).shuffle([1, 2, 3, 4])].sort(), [1, 2, 3, 4]);
  for (let i = 0; i < 100; i++) {
    const x = a.between([2, 5]);
    assert.ok(x >= 2 && x <= 5);
  }
});

Deno.test("jepsen: a planted stale read turns a linearizable key into a failing one", () => {
  const op = (o: Partial<Op> & Pick<Op, "kind">): Op =>
    ({ client: 0, key: "k", outcome: "ok", ...o }) as Op;
  const history: Op[] = [
    op({ kind: "put", value: "a", call: 0, ret: 1 }),
    op({ kind: "put", value: "b", call: 2, ret: 3 }),
    op({ kind: "get", read: "b", call: 4, ret: 5 }),
  ];
  assert.equal(checkKey(history).verdict, "linearizable");
  const planted = plantStaleRead(history);
  assert.ok(planted);
  assert.equal(checkKey(planted).verdict, "not-linearizable");
  assert.equal(history[2].kind === "get" && history[2].read, "b", "the original is untouched");
  // Nothing to plant without two acknowledged puts before a read.
  assert.equal(plantStaleRead(history.slice(1)), undefined);
});
