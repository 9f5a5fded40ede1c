import assert from "node:assert/strict";
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CorsPolicy } from "./cors.ts";

const headerMap = (pairs: ReadonlyArray<readonly [string, string]>) => new Map(pairs);

Deno.test("cors: '*' answers every request with origin '*', with or without Origin", () => {
  const p = new CorsPolicy(["*"]);
  for (const origin of [undefined, "http://a.example", ""]) {
    const h = headerMap(p.headersFor(origin));
    assert.equal(h.get("access-control-allow-origin"), "*");
    assert.equal(h.get("access-control-allow-methods"), CORS_ALLOW_METHODS);
    assert.equal(h.get("access-control-allow-headers"), CORS_ALLOW_HEADERS);
  }
});

Deno.test("cors: an empty list allows all, as etcd's OriginAllowed", () => {
  assert.equal(
    headerMap(new CorsPolicy([]).headersFor("x")).get("access-control-allow-origin"),
    "*",
  );
});

Deno.test("cors: a listed origin is echoed; others and a missing Origin get nothing", () => {
  const p = new CorsPolicy(["http://a.example:8080", "https://b.example"]);
  assert.equal(
    headerMap(p.headersFor("https://b.example")).get("access-control-allow-origin"),
    "https://b.example",
  );
  assert.deepEqual(p.headersFor("http://c.example"), []);
  assert.deepEqual(p.headersFor("http://a.example"), [], "the port is part of the origin");
  assert.deepEqual(p.headersFor(undefined), []);
  assert.equal(p.allows("http://a.example:8080"), true);
  assert.equal(p.allows("http://c.example"), false);
});

Deno.test("cors: etcd's methods and headers come first, Connect and gRPC-Web headers are allowed", () => {
  assert.equal(CORS_ALLOW_METHODS, "POST, GET, OPTIONS, PUT, DELETE");
  assert.ok(CORS_ALLOW_HEADERS.startsWith("accept, content-type, authorization"));
  for (
    const h of ["connect-protocol-version", "connect-timeout-ms", "x-grpc-web", "grpc-timeout"]
  ) {
    assert.ok(CORS_ALLOW_HEADERS.split(", ").includes(h), h);
  }
});
