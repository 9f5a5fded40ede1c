/**
 * CORS and the Host check on real processes, over HTTP/1.1 as browsers
 * speak it to a cleartext port:
 *
 * - the gateway's preflights (`/v3/...`, `/v3beta/...`) answer as etcd
 *   3.4's do, side by side, for `--cors` left at etcd's default and for a
 *   listed origin;
 * - a cross-origin Connect call and a gRPC-Web call (connect-web's
 *   transports, with an Origin header as a browser adds it) get through:
 *   every request header the transports send is allowed by the preflight,
 *   the answers carry the origin, and gRPC-Web's status headers are
 *   exposed, so a browser script can read an etcd error;
 * - an origin that is not listed gets no CORS headers;
 * - `--host-whitelist` answers 421 to Connect and gateway requests naming
 *   another host.
 *
 * tests/browser/cors_test.ts runs a Connect-Web page from another origin in
 * Chromium itself.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { KV, PutRequestSchema } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Pair } from "./harness/compare.ts";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("cors_test.ts");
const options = { ignore, sanitizeOps: false, sanitizeResources: false };

const ORIGIN = "http://app.example:8080";
const OTHER = "http://other.example";
const enc = new TextEncoder();

/** The CORS headers of a response, as a plain object (absent ones left out). */
function corsOf(res: Response) {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name.startsWith("access-control-")) out[name] = value;
  });
  return out;
}

/** A browser's preflight for a POST to `path` sending `headers`. */
async function preflight(base: string, path: string, origin: string, headers: string[]) {
  const res = await fetch(`${base}${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": headers.join(","),
    },
  });
  const body = await res.text();
  return { status: res.status, body, cors: corsOf(res) };
}

/** What etcd itself answers: its allow-headers list is its own three names. */
function etcdComparable(p: Awaited<ReturnType<typeof preflight>>) {
  const allow = p.cors["access-control-allow-headers"];
  return {
    status: p.status,
    body: p.body,
    origin: p.cors["access-control-allow-origin"],
    methods: p.cors["access-control-allow-methods"],
    etcdHeaders: allow?.split(", ").slice(0, 3).join(", "),
  };
}

const GATEWAY_PATHS = ["/v3/kv/range", "/v3/kv/put", "/v3/watch", "/v3beta/kv/range"];

for (const flags of [[], [`--cors=${ORIGIN}`]]) {
  Deno.test({
    ...options,
    name: `cors: gateway preflights answer as etcd's (${flags.join(" ") || "default --cors"})`,
    async fn() {
      const pair = await Pair.start(["--log-level=warn", ...flags], "cors");
      try {
        for (const path of GATEWAY_PATHS) {
          for (const origin of [ORIGIN, OTHER]) {
            const headers = ["content-type", "authorization"];
            const etcd = await preflight(pair.etcd.clientUrl, path, origin, headers);
            const cairn = await preflight(pair.cairn.clientUrl, path, origin, headers);
            assert.deepEqual(etcdComparable(cairn), etcdComparable(etcd), `${path} from ${origin}`);
          }
        }
        const allowed = await preflight(pair.cairn.clientUrl, "/v3/kv/range", ORIGIN, []);
        assert.equal(allowed.cors["access-control-allow-origin"], flags.length ? ORIGIN : "*");
        assert.equal(
          allowed.cors["access-control-allow-methods"],
          "POST, GET, OPTIONS, PUT, DELETE",
        );
        const other = await preflight(pair.cairn.clientUrl, "/v3/kv/range", OTHER, []);
        if (flags.length) {
          assert.deepEqual(other.cors, {}, "an unlisted origin gets no CORS headers");
        }
      } finally {
        await pair.destroy();
      }
    },
  });
}

/**
 * A connect-web transport's fetch, as a browser on ORIGIN would send it:
 * the Origin header added, the request header names recorded, and the
 * last response kept.
 */
function browserLikeFetch(seen: { names: Set<string>; last?: Response }): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    headers.forEach((_, name) => seen.names.add(name));
    headers.set("origin", ORIGIN);
    const res = await fetch(input, { ...init, headers });
    seen.last = res;
    return res;
  };
}

function transports(base: string, seen: { names: Set<string>; last?: Response }) {
  const fetch = browserLikeFetch(seen);
  return {
    connect: createConnectTransport({ baseUrl: base, fetch }),
    connectJson: createConnectTransport({ baseUrl: base, fetch, useBinaryFormat: false }),
    grpcWeb: createGrpcWebTransport({ baseUrl: base, fetch }),
  } satisfies Record<string, Transport>;
}

Deno.test({
  ...options,
  name:
    "cors: cross-origin Connect and gRPC-Web calls: headers allowed, origin granted, status exposed",
  async fn() {
    const m = await Member.start({
      kind: "cairn",
      name: "cors",
      extraArgs: ["--log-level=warn", `--cors=${ORIGIN}`],
    });
    try {
      await etcdctlOk(m.endpoint, ["put", "cors/key", "from-etcdctl"]);
      for (const name of ["connect", "connectJson", "grpcWeb"] as const) {
        const record = seen();
        const kv = createClient(KV, transports(m.clientUrl, record)[name]);
        const got = await kv.range({ key: enc.encode("cors/key") });
        assert.equal(new TextDecoder().decode(got.kvs[0].value), "from-etcdctl", name);
        const res = record.last!;
        assert.equal(res.headers.get("access-control-allow-origin"), ORIGIN, name);
        // Everything the transport sent must pass a preflight naming it.
        const p = await preflight(m.clientUrl, "/etcdserverpb.KV/Range", ORIGIN, [...record.names]);
        assert.equal(p.status, 200);
        const allowed = p.cors["access-control-allow-headers"].split(", ");
        for (const h of record.names) assert.ok(allowed.includes(h), `${name} sends ${h}`);
        // An etcd error reaches the script: its status headers are exposed.
        const err = await kv.put(create(PutRequestSchema, {})).then(
          () => assert.fail(`${name}: a put without a key succeeded`),
          (e) => ConnectError.from(e),
        );
        assert.equal(err.code, Code.InvalidArgument, name);
        assert.equal(err.rawMessage, "etcdserver: key is not provided", name);
        const exposed = record.last!.headers.get("access-control-expose-headers")!.split(", ");
        for (const h of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
          assert.ok(exposed.includes(h), `${name}: ${h} exposed`);
        }
      }
      // A script from an origin that is not listed gets nothing it may read.
      const res = await fetch(`${m.clientUrl}/etcdserverpb.KV/Range`, {
        method: "POST",
        headers: { origin: OTHER, "content-type": "application/json" },
        body: JSON.stringify({ key: btoa("cors/key") }),
      });
      await res.body?.cancel();
      assert.equal(res.headers.get("access-control-allow-origin"), null);
    } finally {
      await m.destroy();
    }
  },
});

function seen(): { names: Set<string>; last?: Response } {
  return { names: new Set() };
}

/** One raw HTTP/1.1 exchange, so the Host header is exactly the test's. */
async function rawHttp1(port: number, text: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(enc.encode(text));
    let out = "";
    const buf = new Uint8Array(65536);
    const decoder = new TextDecoder();
    const deadline = Date.now() + 10_000;
    for (;;) {
      assert.ok(Date.now() < deadline, "no complete answer within 10 s");
      const n = await conn.read(buf);
      if (n === null) break;
      out += decoder.decode(buf.subarray(0, n), { stream: true });
    }
    const split = out.indexOf("\r\n\r\n");
    return { status: Number(out.split(" ")[1]), body: out.slice(split + 4) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

Deno.test({
  ...options,
  name: "cors: --host-whitelist answers 421 to Connect and gateway requests for another host",
  async fn() {
    const m = await Member.start({
      kind: "cairn",
      name: "hosts",
      extraArgs: ["--log-level=warn", "--host-whitelist=127.0.0.1,good.example"],
    });
    try {
      const body = JSON.stringify({ key: btoa("x") });
      for (const path of ["/etcdserverpb.KV/Range", "/v3/kv/range"]) {
        for (
          const [host, status] of [["evil.example:2379", 421], ["good.example:2379", 200]] as const
        ) {
          const r = await rawHttp1(
            m.clientPort,
            `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
              `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          );
          assert.equal(r.status, status, `${path} with Host ${host}`);
          if (status === 421) assert.match(r.body, /--host-whitelist "evil\.example"/);
        }
      }
    } finally {
      await m.destroy();
    }
  },
});
