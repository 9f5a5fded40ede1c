import assert from "node:assert/strict";
import { type CappedConn, ConnectionCap } from "./conn_cap.ts";

/** A connection whose idleness the test sets; records its eviction. */
function conn(name: string, idle: boolean, evicted: string[]): CappedConn & { busy: boolean } {
  const c = {
    busy: !idle,
    idle: () => !c.busy,
    evict: () => void evicted.push(name),
  };
  return c;
}

Deno.test("connection cap: below the cap every connection is admitted", () => {
  const cap = new ConnectionCap(3);
  const evicted: string[] = [];
  for (const n of ["a", "b", "c"]) assert.ok(cap.admit(conn(n, false, evicted)));
  assert.equal(cap.size, 3);
  assert.deepEqual(evicted, []);
});

Deno.test("connection cap: at the cap the oldest idle connection makes room", () => {
  const cap = new ConnectionCap(3);
  const evicted: string[] = [];
  const a = conn("a", false, evicted);
  const b = conn("b", true, evicted);
  const c = conn("c", true, evicted);
  for (const x of [a, b, c]) cap.admit(x);
  assert.ok(cap.admit(conn("d", false, evicted)));
  assert.deepEqual(evicted, ["b"], "a is busy; b is the oldest idle one");
  assert.equal(cap.size, 3);
  assert.ok(cap.admit(conn("e", false, evicted)));
  assert.deepEqual(evicted, ["b", "c"]);
});

Deno.test("connection cap: with nothing idle the new connection is refused; released slots free room", () => {
  const cap = new ConnectionCap(2);
  const evicted: string[] = [];
  const a = conn("a", false, evicted);
  const b = conn("b", false, evicted);
  cap.admit(a);
  cap.admit(b);
  assert.equal(cap.admit(conn("c", true, evicted)), false);
  assert.deepEqual(evicted, []);
  cap.release(a);
  assert.ok(cap.admit(conn("d", false, evicted)));
  // A connection that went idle later is found too.
  b.busy = false;
  assert.ok(cap.admit(conn("e", false, evicted)));
  assert.deepEqual(evicted, ["b"]);
});

Deno.test("connection cap: a cap full of busy connections costs bounded work, and idle ones are still found", () => {
  const cap = new ConnectionCap(1000);
  const evicted: string[] = [];
  let checks = 0;
  const conns: Array<CappedConn & { busy: boolean }> = [];
  for (let i = 0; i < 1000; i++) {
    const c = conn(`c${i}`, false, evicted);
    const idle = c.idle;
    c.idle = () => (checks++, idle());
    conns.push(c);
    cap.admit(c);
  }
  assert.equal(cap.admit(conn("x", false, evicted)), false);
  assert.ok(checks <= 64, `${checks} connections looked at`);
  // The newest connection goes idle: some admissions later it is found.
  conns[999].busy = false;
  let admitted = false;
  for (let i = 0; i < 1000 / 64 + 1 && !admitted; i++) {
    admitted = cap.admit(conn("y", false, evicted));
  }
  assert.ok(admitted);
  assert.deepEqual(evicted, ["c999"]);
});
