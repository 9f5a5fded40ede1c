import assert from "node:assert/strict";
import { computeClusterId, computeMemberId, urlString } from "./ids.ts";

Deno.test("urlString drops the trailing slash URL adds", () => {
  assert.equal(urlString(new URL("http://127.0.0.1:2380")), "http://127.0.0.1:2380");
});

Deno.test("member id depends on sorted peer URLs and token only", () => {
  const a = computeMemberId(["http://b:2380", "http://a:2380"], "tok");
  const b = computeMemberId(["http://a:2380", "http://b:2380"], "tok");
  assert.equal(a, b);
  assert.notEqual(a, computeMemberId(["http://a:2380", "http://b:2380"], "other"));
  assert.ok(a > 0n && a < 1n << 64n);
});

Deno.test("etcd's default single member ids", () => {
  // etcd 3.4 started with its defaults (peer http://localhost:2380, token
  // etcd-cluster) reports member 8e9e05c52164694d in cluster cdf818194e3a8c32.
  const member = computeMemberId(["http://localhost:2380"], "etcd-cluster");
  assert.equal(member.toString(16), "8e9e05c52164694d");
  assert.equal(computeClusterId([member]).toString(16), "cdf818194e3a8c32");
});
