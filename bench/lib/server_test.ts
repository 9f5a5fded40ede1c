import assert from "node:assert/strict";
import { freePort, memberFlags } from "./server.ts";
import { kvbenchArgs, SCENARIOS } from "./scenarios.ts";

Deno.test("memberFlags describe a one-member cluster on loopback", () => {
  const f = memberFlags("x", "/d", 1111, 2222);
  const flag = (name: string) => f[f.indexOf(name) + 1];
  assert.equal(flag("--data-dir"), "/d");
  assert.equal(flag("--listen-client-urls"), "http://127.0.0.1:1111");
  assert.equal(flag("--advertise-client-urls"), "http://127.0.0.1:1111");
  assert.equal(flag("--listen-peer-urls"), "http://127.0.0.1:2222");
  assert.equal(flag("--initial-cluster"), "x=http://127.0.0.1:2222");
});

Deno.test("freePort returns a bindable port other than etcd's defaults", () => {
  const avoid = new Set<number>();
  for (let i = 0; i < 5; i++) {
    const p = freePort(avoid);
    assert.ok(p !== 2379 && p !== 2380 && !avoid.has(p));
    avoid.add(p);
    Deno.listen({ hostname: "127.0.0.1", port: p }).close();
  }
});

Deno.test("scenarios pass their parameters to kvbench", () => {
  const get = SCENARIOS.find((s) => s.op === "get")!;
  const args = kvbenchArgs(get, "127.0.0.1:9", 30, "l");
  const arg = (name: string) => args[args.indexOf(name) + 1];
  assert.equal(arg("-endpoint"), "127.0.0.1:9");
  assert.equal(arg("-keys"), "1"); // the "linearizable range of one key"
  assert.equal(arg("-clients"), "100");
  assert.equal(arg("-conns"), "10");
  assert.equal(arg("-timeout"), "30s");
  assert.deepEqual(new Set(SCENARIOS.map((s) => s.op)), new Set(["put", "get", "getser", "txn"]));
});
