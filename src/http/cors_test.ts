import assert from "node:assert/strict";
import { cors } from "@connectrpc/connect";
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_EXPOSE_HEADERS, CorsPolicy } from "./cors.ts";

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

Deno.test("cors: every header connect's cors lists name is allowed or exposed, case-insensitively", () => {
  const allowed = CORS_ALLOW_HEADERS.split(", ");
  for (const h of cors.allowedHeaders) assert.ok(allowed.includes(h.toLowerCase()), h);
  for (const h of ["grpc-accept-encoding", "connect-accept-encoding", "authorization"]) {
    assert.ok(allowed.includes(h), h);
  }
  const exposed = CORS_EXPOSE_HEADERS.split(", ");
  for (const h of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
    assert.ok(exposed.includes(h), h);
  }
  assert.equal(new Set(allowed).size, allowed.length, "no duplicates");
});

Deno.test("cors: allowed origins' responses expose gRPC-Web's status headers; others get none", () => {
  const p = new CorsPolicy(["https://a.example"]);
  const h = headerMap(p.headersFor("https://a.example"));
  assert.equal(h.get("access-control-expose-headers"), CORS_EXPOSE_HEADERS);
  assert.equal(
    headerMap(p.headersFor("https://b.example")).has("access-control-expose-headers"),
    false,
  );
});
