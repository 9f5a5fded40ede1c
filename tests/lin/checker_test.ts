/**
 * The linearizability checker on hand-written histories whose answer is known
 * (stale reads, lost acknowledged writes, writes with unknown outcomes,
 * compare-and-swap in both directions), on seeded random histories generated
 * from a real linearization (must pass) and then corrupted with a stale read
 * (must fail), and at its search bound.
 */
import assert from "node:assert/strict";
import { checkHistory, checkKey } from "./checker.ts";
import type { CasOp, GetOp, Op, PutOp } from "./history.ts";
import { formatHistory } from "./format.ts";
import { checkable } from "./history.ts";
import { INCONSISTENT, type RegisterState, step } from "./model.ts";
import { minimalCounterexample, prefixAt } from "./shrink.ts";

const K = "k";

/** A read of `read` over [call, ret]. */
function get(client: number, call: number, ret: number, read: string | null): GetOp {
  return { kind: "get", client, key: K, call, ret, outcome: "ok", read };
}

/** A put over [call, ret]; ret null means the answer never came. */
function put(client: number, call: number, ret: number | null, value: string): PutOp {
  return {
    kind: "put",
    client,
    key: K,
    call,
    ret,
    outcome: ret === null ? "unknown" : "ok",
    value,
  };
}

/** A compare-and-swap; `swapped` undefined means the answer never came. */
function cas(
  client: number,
  call: number,
  ret: number | null,
  expected: string | null,
  value: string,
  swapped?: boolean,
): CasOp {
  return {
    kind: "cas",
    client,
    key: K,
    call,
    ret,
    outcome: swapped === undefined ? "unknown" : "ok",
    expected,
    value,
    swapped,
  };
}

function verdict(ops: Op[]): string {
  return checkKey(ops).verdict;
}

Deno.test("checker: sequential history of the register is linearizable", () => {
  assert.equal(
    verdict([
      get(0, 0, 1, null),
      put(0, 2, 3, "a"),
      get(1, 4, 5, "a"),
      cas(1, 6, 7, "a", "b", true),
      cas(0, 8, 9, "a", "c", false),
      get(0, 10, 11, "b"),
    ]),
    "linearizable",
  );
});

Deno.test("checker: a read overlapping a write may see the old or the new value", () => {
  for (const read of [null, "a"]) {
    assert.equal(verdict([put(0, 0, 10, "a"), get(1, 2, 5, read)]), "linearizable", `${read}`);
  }
  // Two reads inside the write's window: old then new is fine...
  assert.equal(
    verdict([put(0, 0, 10, "a"), get(1, 1, 2, null), get(2, 3, 4, "a")]),
    "linearizable",
  );
});

Deno.test("checker: new-then-old reads during one write are not linearizable", () => {
  // ...but new then old is not: once a read saw the write, it has taken effect.
  assert.equal(
    verdict([put(0, 0, 10, "a"), get(1, 1, 2, "a"), get(2, 3, 4, null)]),
    "not-linearizable",
  );
});

Deno.test("checker: a stale read after an acknowledged overwrite is not linearizable", () => {
  const ops = [put(0, 0, 1, "a"), put(0, 2, 3, "b"), get(1, 4, 5, "a")];
  assert.equal(verdict(ops), "not-linearizable");
  // The same read overlapping the overwrite is fine.
  assert.equal(verdict([put(0, 0, 1, "a"), put(0, 2, 6, "b"), get(1, 4, 5, "a")]), "linearizable");
});

Deno.test("checker: a lost acknowledged write is not linearizable", () => {
  // The put was acknowledged, then every later read misses it.
  assert.equal(verdict([put(0, 0, 1, "a"), get(1, 2, 3, null)]), "not-linearizable");
  // Lost after being seen once.
  assert.equal(
    verdict([put(0, 0, 1, "a"), put(1, 2, 3, "b"), get(2, 4, 5, "b"), get(2, 6, 7, "a")]),
    "not-linearizable",
  );
});

Deno.test("checker: a read of a value nobody wrote is not linearizable", () => {
  assert.equal(verdict([put(0, 0, 1, "a"), get(1, 2, 3, "zzz")]), "not-linearizable");
});

Deno.test("checker: a write with unknown outcome may take effect late or never", () => {
  // Never seen: fine.
  assert.equal(verdict([put(0, 0, null, "a"), get(1, 5, 6, null)]), "linearizable");
  // Seen long after the client gave up on it: fine (it was still in flight).
  assert.equal(
    verdict([put(0, 0, null, "a"), get(1, 5, 6, null), get(1, 100, 101, "a")]),
    "linearizable",
  );
  // But not before it was invoked...
  assert.equal(verdict([get(1, 0, 1, "a"), put(0, 5, null, "a")]), "not-linearizable");
  // ...and once seen it cannot be undone.
  assert.equal(
    verdict([put(0, 0, null, "a"), get(1, 5, 6, "a"), get(1, 7, 8, null)]),
    "not-linearizable",
  );
});

Deno.test("checker: definite failures and unanswered reads are ignored", () => {
  const failed: PutOp = { ...put(0, 0, 1, "a"), outcome: "fail" };
  const unanswered: GetOp = { ...get(1, 2, 3, "garbage"), outcome: "unknown", ret: null };
  const result = checkKey([failed, unanswered, get(2, 4, 5, null)]);
  assert.equal(result.verdict, "linearizable");
  assert.equal(result.ops, 1, "only the answered read is placed");
  // A failed put seen by a read: the 'fail' claim was wrong, and the checker says so.
  assert.equal(verdict([failed, get(2, 4, 5, "a")]), "not-linearizable");
});

Deno.test("checker: compare-and-swap must agree with the value it compared", () => {
  // Swapped although the value was different.
  assert.equal(
    verdict([put(0, 0, 1, "a"), cas(1, 2, 3, "x", "b", true)]),
    "not-linearizable",
  );
  // Not swapped although the value matched and nothing else ran.
  assert.equal(
    verdict([put(0, 0, 1, "a"), cas(1, 2, 3, "a", "b", false)]),
    "not-linearizable",
  );
  // Not swapped because a concurrent put got there first: fine.
  assert.equal(
    verdict([put(0, 0, 1, "a"), put(2, 2, 5, "c"), cas(1, 3, 4, "a", "b", false)]),
    "linearizable",
  );
  // "absent" compares: create-if-absent twice, both claim success.
  assert.equal(
    verdict([cas(0, 0, 3, null, "a", true), cas(1, 1, 4, null, "b", true)]),
    "not-linearizable",
  );
  assert.equal(
    verdict([cas(0, 0, 3, null, "a", true), cas(1, 1, 4, null, "b", false), get(2, 5, 6, "a")]),
    "linearizable",
  );
  // An unanswered swap explains a value only if its comparison could hold.
  assert.equal(
    verdict([put(0, 0, 1, "a"), cas(1, 2, null, "a", "b"), get(2, 10, 11, "b")]),
    "linearizable",
  );
  assert.equal(
    verdict([put(0, 0, 1, "x"), cas(1, 2, null, "a", "b"), get(2, 10, 11, "b")]),
    "not-linearizable",
  );
});

Deno.test("checker: an unknown write can be what makes a failed swap fail", () => {
  // Without the unanswered put of "x" the swap on "a" would have had to succeed.
  assert.equal(
    verdict([
      put(0, 0, 1, "a"),
      put(1, 2, null, "x"),
      cas(2, 3, 4, "a", "b", false),
      put(2, 5, 6, "c"),
      get(2, 7, 8, "c"),
    ]),
    "linearizable",
  );
});

Deno.test("checker: keys are independent; the failing key is named", () => {
  const good = [put(0, 0, 1, "a"), get(1, 2, 3, "a")].map((o) => ({ ...o, key: "good" }));
  const bad = [put(0, 0, 1, "a"), put(0, 2, 3, "b"), get(1, 4, 5, "a")].map((o) => ({
    ...o,
    key: "bad",
  }));
  // The same values on two keys: "a" read on "bad" is stale even though it is current on "good".
  const result = checkHistory([...good, ...bad]);
  assert.equal(result.verdict, "not-linearizable");
  assert.deepEqual(
    result.keys.map((k) => [k.key, k.verdict]),
    [["good", "linearizable"], ["bad", "not-linearizable"]],
  );
});

Deno.test("checker: malformed records are refused", () => {
  assert.throws(() => checkKey([put(0, 5, 1, "a")]), RangeError);
  assert.throws(() => checkKey([{ ...get(0, 0, 1, null), ret: null }]), RangeError);
});

Deno.test("checker: the search bound gives 'unknown (too big)', not a verdict", () => {
  // A corrupted random history whose refutation takes the search a few
  // hundred thousand steps (6 clients, 114 ops; seed found by measuring).
  const ops = randomHistory(219, 6, 19);
  assert.ok(makeStale(ops, rng(219 * 7919)));
  const bounded = checkKey(ops, { maxSteps: 1000 });
  assert.equal(bounded.verdict, "unknown");
  assert.equal(bounded.steps, 1001);
  assert.match(bounded.reason ?? "", /too big: gave up after 1000 search steps/);
  assert.equal(checkHistory(ops, { maxSteps: 1000 }).verdict, "unknown");
  // With room it finishes, and the answer is a proof.
  const full = checkKey(ops);
  assert.equal(full.verdict, "not-linearizable");
  assert.ok(full.steps > 100_000, `${full.steps} steps`);
});

Deno.test("checker: many unanswered writes nobody saw cost little (they are interchangeable)", () => {
  const ops: Op[] = [];
  for (let i = 0; i < 40; i++) ops.push(put(i, i, null, `v${i}`));
  ops.push(put(50, 0, 1, "a"), get(51, 100, 101, "nobody"));
  const result = checkKey(ops);
  assert.equal(result.verdict, "not-linearizable");
  assert.ok(result.steps < 20_000, `${result.steps} steps`);
  // Still usable to explain a swap that failed.
  ops.pop();
  ops.push(cas(52, 100, 101, "a", "b", false), get(53, 102, 103, "a"));
  assert.equal(checkKey(ops).verdict, "not-linearizable", "the read of a after the failed swap");
  ops.pop();
  assert.equal(checkKey(ops).verdict, "linearizable");
});

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random history of `clients` concurrent clients on one key that is
 * linearizable by construction: every op gets a secret linearization point
 * inside [call, ret], and results are computed by applying the ops in point
 * order. Some writes lose their answer (unknown); some of those never happen.
 */
function randomHistory(seed: number, clients: number, opsPerClient: number): Op[] {
  const rand = rng(seed);
  type Pending = { op: Op; point: number; applies: boolean };
  const pending: Pending[] = [];
  for (let c = 0; c < clients; c++) {
    let t = rand() * 5;
    for (let i = 0; i < opsPerClient; i++) {
      const call = t;
      const ret = call + 0.1 + rand() * 8;
      const point = call + rand() * (ret - call);
      const r = rand();
      const value = `${c}.${i}`;
      let op: Op;
      if (r < 0.4) op = get(c, call, ret, null);
      else if (r < 0.7) op = put(c, call, ret, value);
      else op = cas(c, call, ret, null, value, false);
      const unknown = op.kind !== "get" && rand() < 0.1;
      // An unknown write may still take effect, even after its client gave up.
      const applies = !unknown || rand() < 0.5;
      const lateness = unknown ? rand() * 20 : 0;
      pending.push({ op, point: point + lateness, applies });
      if (unknown) {
        op.outcome = "unknown";
        op.ret = null;
      }
      // An unknown client op is followed by the same client's next op anyway
      // (a fresh process, as Jepsen does).
      t = ret + rand() * 2;
    }
  }
  pending.sort((a, b) => a.point - b.point);
  let state: string | null = null;
  const written: string[] = [];
  for (const p of pending) {
    const op = p.op;
    if (op.kind === "get") {
      op.read = state;
    } else if (op.kind === "put") {
      if (p.applies) state = op.value;
    } else {
      // Compare against a recent value, so swaps sometimes succeed.
      op.expected = written.length > 0 && rand() < 0.8 ? written[written.length - 1] : null;
      if (rand() < 0.3) op.expected = state;
      const holds = state === op.expected;
      if (op.outcome === "ok") op.swapped = holds;
      if (holds && p.applies) state = op.value;
    }
    if (state !== null && written[written.length - 1] !== state) written.push(state);
  }
  return pending.map((p) => p.op).sort((a, b) => a.call - b.call);
}

/**
 * Turns one read into a certain stale read: it now returns a value whose
 * write was followed by another acknowledged write, both finished before the
 * read began. Returns false when the history has no such triple.
 */
function makeStale(ops: Op[], rand: () => number): boolean {
  const puts = ops.filter((o): o is PutOp => o.kind === "put" && o.outcome === "ok");
  const reads = ops.filter((o): o is GetOp => o.kind === "get" && o.outcome === "ok");
  const start = Math.floor(rand() * reads.length);
  for (let n = 0; n < reads.length; n++) {
    const r = reads[(start + n) % reads.length];
    for (const older of puts) {
      if (older.ret! >= r.call) continue;
      const newer = puts.find((p) => p.call > older.ret! && p.ret! < r.call);
      if (newer && r.read !== older.value) {
        r.read = older.value;
        return true;
      }
    }
  }
  return false;
}

Deno.test("checker: 300 seeded random linearizable histories pass; made stale, they fail", () => {
  let corrupted = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const ops = randomHistory(seed, 2 + (seed % 5), 8 + (seed % 13));
    const ok = checkKey(ops);
    if (ok.verdict !== "linearizable") {
      assert.fail(`seed ${seed}: ${ok.verdict} for a linearizable history\n${formatHistory(ops)}`);
    }
    if (makeStale(ops, rng(seed * 7919))) {
      corrupted++;
      const bad = checkKey(ops);
      if (bad.verdict !== "not-linearizable") {
        assert.fail(`seed ${seed}: stale read passed as ${bad.verdict}\n${formatHistory(ops)}`);
      }
    }
  }
  assert.ok(corrupted > 100, `only ${corrupted} histories could be corrupted`);
});

Deno.test("checker: a long history with concurrency and unknowns is checked well within bound", () => {
  const ops = randomHistory(42, 6, 200);
  const t0 = performance.now();
  const result = checkKey(ops);
  const ms = performance.now() - t0;
  assert.equal(result.verdict, "linearizable");
  assert.equal(result.ops, ops.filter((o) => !(o.kind === "get" && o.outcome !== "ok")).length);
  assert.ok(result.steps < 200_000, `${result.steps} steps`);
  assert.ok(ms < 5_000, `${ms} ms`);
});

Deno.test("shrink: the witness of a stale read is the few ops that prove it", () => {
  const ops: Op[] = [
    put(0, 0, 1, "a"),
    get(1, 0.5, 1.5, null),
    put(0, 2, 3, "b"),
    get(1, 2.5, 3.5, "b"),
    get(2, 4, 5, "a"), // stale: "b" was acknowledged before this read began
    put(0, 6, 7, "c"),
    get(1, 8, 9, "c"),
    get(2, 10, 11, "c"),
  ];
  const witness = minimalCounterexample(ops);
  assert.ok(witness);
  assert.equal(checkKey(witness).verdict, "not-linearizable");
  assert.deepEqual(
    witness.map((o) => [o.kind, o.kind === "get" ? o.read : o.value]),
    [["put", "a"], ["put", "b"], ["get", "a"]],
    formatHistory(witness),
  );
  assert.equal(minimalCounterexample(ops.slice(0, 4)), undefined, "a linearizable history");
});

Deno.test("shrink: writes nobody saw are dropped, unless a failed swap may need them", () => {
  const ops: Op[] = [
    put(0, 0, 1, "a"),
    put(1, 2, 3, "x1"),
    put(2, 2, null, "x2"),
    put(0, 4, 5, "b"),
    put(1, 6, 7, "x3"),
    put(0, 8, 9, "c"),
    get(2, 10, 11, "b"), // stale: "c" was acknowledged before
  ];
  const witness = minimalCounterexample(ops);
  assert.ok(witness);
  // "b", one later acknowledged write (x3 or c: either proves it), the stale read.
  const shown = witness.map((o) => o.kind === "get" ? `get ${o.read}` : `put ${o.value}`);
  assert.equal(shown.length, 3, formatHistory(witness));
  assert.deepEqual([shown[0], shown[2]], ["put b", "get b"]);
  assert.equal(checkKey(witness).verdict, "not-linearizable");
  // A failed swap that only an unseen write explains keeps every write: dropping
  // one could turn an innocent swap into the apparent culprit.
  const withSwap = [...ops, cas(3, 12, 13, "c", "d", false)];
  const kept = minimalCounterexample(withSwap);
  assert.ok(kept);
  assert.equal(checkKey(kept).verdict, "not-linearizable");
  assert.ok(kept.some((o) => o.kind === "put" && o.value === "x3"), formatHistory(kept));
});

Deno.test("shrink: a prefix turns unfinished writes into unknown ones and drops unfinished reads", () => {
  const ops: Op[] = [
    put(0, 0, 10, "a"),
    get(1, 1, 12, "a"),
    put(2, 2, 3, "b"),
    get(3, 20, 21, "b"),
  ];
  const p = prefixAt(ops, 5);
  assert.deepEqual(p.map((o) => [o.kind, o.outcome, o.ret]), [
    ["put", "unknown", null],
    ["put", "ok", 3],
  ]);
});

Deno.test("shrink: random corrupted histories shrink to witnesses that still fail", () => {
  let shrunk = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const ops = randomHistory(seed, 3, 15);
    if (!makeStale(ops, rng(seed))) continue;
    const witness = minimalCounterexample(ops);
    assert.ok(witness, `seed ${seed}`);
    assert.equal(checkKey(witness).verdict, "not-linearizable", `seed ${seed}`);
    assert.ok(witness.length <= ops.length);
    shrunk++;
  }
  assert.ok(shrunk > 10, `${shrunk} shrunk`);
});

/**
 * Reference answer by brute force: tries every order of the ops that respects
 * real time, each unanswered write placed anywhere after its invocation or
 * never. Exponential; for histories of a handful of ops only.
 */
function bruteForce(history: readonly Op[]): boolean {
  const ops = history.filter(checkable);
  const placed = new Array<boolean>(ops.length).fill(false);
  const definite = (o: Op) => o.outcome === "ok";
  const search = (state: RegisterState, left: number): boolean => {
    if (ops.every((o, i) => placed[i] || !definite(o))) return true;
    if (left === 0) return false;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      // Nothing still unplaced may have completed before this op began.
      const blocked = ops.some((o, j) =>
        !placed[j] && j !== i && definite(o) && o.ret! < ops[i].call
      );
      if (blocked) continue;
      const next = step(state, ops[i]);
      if (next === INCONSISTENT) continue;
      placed[i] = true;
      const ok = search(next, left - 1);
      placed[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return search(null, ops.length);
}

/**
 * A small random history with arbitrary (often impossible) answers, many
 * unanswered writes, and reads and swaps that mostly name written values.
 */
function wildHistory(seed: number): Op[] {
  const rand = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const n = 3 + Math.floor(rand() * 5);
  const values: string[] = [];
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    const call = Math.floor(rand() * 12);
    const ret = call + Math.floor(rand() * 6);
    const r = rand();
    if (r < 0.35) {
      ops.push(get(i, call, ret, null));
    } else {
      const value = `v${i}`;
      values.push(value);
      const answered = rand() < 0.5;
      if (r < 0.65) ops.push(put(i, call, answered ? ret : null, value));
      else {
        ops.push(
          cas(i, call, answered ? ret : null, null, value, answered ? rand() < 0.5 : undefined),
        );
      }
    }
  }
  for (const op of ops) {
    if (op.kind === "get") op.read = rand() < 0.2 || values.length === 0 ? null : pick(values);
    if (op.kind === "cas") {
      const others = values.filter((v) => v !== op.value);
      op.expected = rand() < 0.25 || others.length === 0 ? null : pick(others);
    }
  }
  return ops;
}

Deno.test("checker: agrees with brute force on 3000 small random histories", () => {
  let yes = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const ops = wildHistory(seed);
    const expected = bruteForce(ops);
    const got = checkKey(ops).verdict;
    if (got !== (expected ? "linearizable" : "not-linearizable")) {
      assert.fail(
        `seed ${seed}: checker says ${got}, brute force ${expected}\n${formatHistory(ops)}`,
      );
    }
    if (expected) yes++;
  }
  // Both answers are well represented, so agreement means something.
  assert.ok(yes > 300 && yes < 2700, `${yes} of 3000 linearizable`);
});
