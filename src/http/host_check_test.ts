import assert from "node:assert/strict";
import { goQuote, hostnameOf, HostWhitelist, misdirectedBody } from "./host_check.ts";

Deno.test("host check: hostnameOf follows Go's SplitHostPort, whole value on error", () => {
  const cases: Array<[string, string]> = [
    ["example.com:2379", "example.com"],
    ["example.com", "example.com"],
    ["127.0.0.1:80", "127.0.0.1"],
    ["[::1]:2379", "::1"],
    ["[::1]", "[::1]"],
    ["::1", "::1"],
    ["a:b:c", "a:b:c"],
    ["example.com:", "example.com"],
    ["[::1]x:80", "[::1]x:80"],
    ["ex[ample:80", "ex[ample:80"],
    ["", ""],
  ];
  for (const [input, want] of cases) assert.equal(hostnameOf(input), want, input);
});

Deno.test("host check: '*' or an empty list allows every host", () => {
  for (const list of [["*"], [], ["a", "*"]]) {
    const w = new HostWhitelist(list);
    assert.equal(w.allowsAll, true);
    assert.equal(w.allows("anything:1"), true);
    assert.equal(w.allows(undefined), true);
  }
});

Deno.test("host check: only listed host names pass, whatever the port", () => {
  const w = new HostWhitelist(["good.example", "127.0.0.1", "::1"]);
  assert.equal(w.allowsAll, false);
  assert.equal(w.allows("good.example"), true);
  assert.equal(w.allows("good.example:2379"), true);
  assert.equal(w.allows("127.0.0.1:2379"), true);
  assert.equal(w.allows("[::1]:2379"), true);
  assert.equal(w.allows("evil.example"), false);
  assert.equal(w.allows("good.example.evil:80"), false);
  assert.equal(w.allows(undefined), false, "a missing Host is the empty host name");
});

Deno.test("host check: the 421 body is etcd's, with the host quoted as Go's %q", () => {
  const body = misdirectedBody("evil.example");
  assert.ok(
    body.startsWith("\netcd received your request, but the Host header was unrecognized.\n"),
  );
  assert.ok(body.includes('  - e.g. etcd --host-whitelist "evil.example"\n'));
  assert.ok(body.endsWith('"DNS Rebinding" attacks (CVE-2018-5702).\n\n'));
  // etcd 3.4 sends 374 bytes for this host (Content-Length measured with curl).
  assert.equal(new TextEncoder().encode(body).length, 374);
});

Deno.test("host check: goQuote escapes like Go", () => {
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote("t\tn\n\x01\x7f"), '"t\\tn\\n\\x01\\x7f"');
  assert.equal(goQuote("é"), '"é"');
});
