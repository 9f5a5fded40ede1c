/**
 * One fuzz case of the RPC body fuzzer: a method of the etcd API, a body
 * (random bytes, a valid random request, or a mutated one), and how it
 * travels: gRPC over HTTP/2 (with the envelope, compression and headers
 * sometimes wrong), Connect over HTTP/1.1 (binary, JSON or enveloped
 * streaming bodies), or etcd's /v3 JSON gateway over HTTP/1.1.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { toBinary, toJsonString } from "@bufbuild/protobuf";
import { GATEWAY_PATHS } from "../../src/http/gateway/paths.ts";
import type { H2Call } from "./h2_calls.ts";
import { concat, mutate, protobufJunk } from "./mutate.ts";
import type { Rng } from "./rng.ts";
import {
  guardBinary,
  type GuardContext,
  guardJson,
  randomMessage,
  RPC_METHODS,
  type RpcMethod,
  show,
} from "./rpc_catalog.ts";

/** A Connect request over HTTP/1.1. */
export interface ConnectRequest {
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** A streaming method the server may keep open: no answer needed, aborted after a while. */
  streaming: boolean;
}

/** One case, ready to send. */
export type RpcCase =
  | { method: RpcMethod; via: "grpc"; call: H2Call; what: string }
  | { method: RpcMethod; via: "connect"; request: ConnectRequest; what: string };

/** The protobuf payload of a case (before any guard). */
function rawPayload(rng: Rng, method: RpcMethod): { bytes: Uint8Array; kind: string } {
  const kind = rng.weighted(
    [
      [10, "random bytes"],
      [25, "valid"],
      [50, "mutated"],
      [15, "field junk"],
    ] as const,
  );
  switch (kind) {
    case "random bytes":
      return { bytes: rng.bytes(rng.size(512)), kind };
    case "valid":
      return { bytes: toBinary(method.input, randomMessage(rng, method.input)), kind };
    case "mutated":
      return { bytes: mutate(rng, toBinary(method.input, randomMessage(rng, method.input))), kind };
    case "field junk": {
      const parts: Uint8Array[] = [];
      for (let i = rng.int(1, 6); i > 0; i--) parts.push(protobufJunk(rng));
      return { bytes: concat(...parts), kind };
    }
  }
}

/** A gRPC length-prefixed message: flags, big-endian length, payload. */
function envelope(flags: number, length: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, length >>> 0);
  out.set(payload, 5);
  return out;
}

/** A gzip bomb: a few KiB that inflate past the 1.5 MiB request limit. */
let bomb: Uint8Array | undefined;
function gzipBomb(): Uint8Array {
  bomb ??= gzipSync(new Uint8Array(4 << 20));
  return bomb;
}

/** The gRPC body: usually one correct envelope, sometimes a broken or compressed one. */
function grpcBody(
  rng: Rng,
  messages: Uint8Array[],
  headers: [string, string][],
): { body: Uint8Array; note: string } {
  const style = rng.weighted(
    [
      [70, "plain"],
      [8, "bad length"],
      [6, "flag without encoding"],
      [8, "gzip"],
      [3, "gzip bomb"],
      [5, "empty"],
    ] as const,
  );
  if (style === "empty") return { body: new Uint8Array(0), note: style };
  if (style === "gzip bomb") {
    headers.push(["grpc-encoding", "gzip"]);
    const b = gzipBomb();
    return { body: envelope(1, b.length, b), note: style };
  }
  const parts = messages.map((m) => {
    if (style === "gzip") {
      const z = gzipSync(m);
      return envelope(1, z.length, rng.chance(0.2) ? mutate(rng, z, 2) : z);
    }
    if (style === "flag without encoding") return envelope(rng.int(1, 255), m.length, m);
    if (style === "bad length") {
      const len = rng.chance(0.5) ? m.length + rng.int(-5, 5) : rng.edgyU32();
      return envelope(0, len, m);
    }
    return envelope(0, m.length, m);
  });
  if (style === "gzip") headers.push(["grpc-encoding", "gzip"]);
  let body = concat(...parts);
  if (style === "bad length" && rng.chance(0.3)) body = body.subarray(0, rng.below(body.length));
  return { body, note: style };
}

/** Splits a body into 1..4 DATA payloads at random points. */
function split(rng: Rng, body: Uint8Array): Uint8Array[] {
  if (body.length === 0 || rng.chance(0.7)) return [body];
  const cuts = new Set<number>();
  for (let i = rng.int(1, 3); i > 0; i--) cuts.add(rng.below(body.length));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(body.subarray(prev, c));
    prev = c;
  }
  out.push(body.subarray(prev));
  return out;
}

const GRPC_TIMEOUTS = ["1n", "1m", "100m", "5S", "99999999H", "abc", "-1S", "1", ""];

function grpcCase(rng: Rng, method: RpcMethod, ctx: GuardContext, authority: string): RpcCase {
  const streamingIn = method.kind === "bidi_streaming" || method.kind === "client_streaming";
  const count = streamingIn && rng.chance(0.4) ? rng.int(2, 4) : 1;
  const kinds: string[] = [];
  const messages: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const p = rawPayload(rng, method);
    kinds.push(p.kind);
    messages.push(guardBinary(method, p.bytes, ctx));
  }
  const headers: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", method.path],
    [":authority", authority],
    [
      "content-type",
      rng.weighted([[90, "application/grpc"], [7, "application/grpc+proto"], [3, "text/plain"]]),
    ],
    ["te", "trailers"],
  ];
  if (rng.chance(0.1)) headers.push(["grpc-timeout", rng.pick(GRPC_TIMEOUTS)]);
  if (rng.chance(0.05)) headers.push(["grpc-encoding", rng.pick(["identity", "br", "x"])]);
  const { body, note } = grpcBody(rng, messages, headers);
  // A request without its end is left open by every gRPC server: only a streaming call.
  const end = rng.chance(0.95);
  const streaming = method.kind === "bidi_streaming" || !end;
  return {
    method,
    via: "grpc",
    call: { headers, body: split(rng, body), end, streaming },
    what: `gRPC ${method.name} ${kinds.join("+")} body (${note}, end=${end}): ${show(body)}`,
  };
}

function connectCase(rng: Rng, method: RpcMethod, ctx: GuardContext): RpcCase {
  const streaming = method.kind !== "unary";
  const headers: Record<string, string> = {};
  if (rng.chance(0.9)) headers["connect-protocol-version"] = "1";
  if (rng.chance(0.1)) headers["connect-timeout-ms"] = rng.pick(["0", "1", "5000", "x", "-5"]);
  const p = rawPayload(rng, method);
  let body: Uint8Array;
  let what: string;
  if (streaming) {
    headers["content-type"] = "application/connect+proto";
    const payload = guardBinary(method, p.bytes, ctx);
    const len = rng.chance(0.85) ? payload.length : rng.edgyU32();
    body = envelope(rng.chance(0.9) ? 0 : rng.below(256), len, payload);
    what = `Connect stream ${method.name} ${p.kind}`;
  } else if (rng.chance(0.2)) {
    headers["content-type"] = "application/json";
    let text = toJsonString(method.input, randomMessage(rng, method.input));
    if (rng.chance(0.7)) {
      text = new TextDecoder().decode(mutate(rng, new TextEncoder().encode(text)));
    }
    body = new TextEncoder().encode(guardJson(method, text, ctx));
    what = `Connect JSON ${method.name}`;
  } else {
    headers["content-type"] = rng.chance(0.95) ? "application/proto" : "application/x-unknown";
    body = guardBinary(method, p.bytes, ctx);
    what = `Connect ${method.name} ${p.kind}`;
    if (rng.chance(0.05)) {
      headers["content-encoding"] = "gzip";
      body = rng.chance(0.5) ? gzipSync(body) : gzipBomb();
    }
  }
  return {
    method,
    via: "connect",
    request: { path: method.path, headers, body, streaming: method.kind === "bidi_streaming" },
    what: `${what}: ${show(body)}`,
  };
}

/** A JSON gateway request (`POST /v3/...`, proto field names), for methods the gateway serves. */
function gatewayCase(rng: Rng, method: RpcMethod, ctx: GuardContext): RpcCase | undefined {
  const [service, name] = method.path.slice(1).split("/");
  const routes = GATEWAY_PATHS.filter((r) => r.service === service && r.method === name);
  if (routes.length === 0) return undefined;
  const route = rng.pick(routes);
  let text = toJsonString(method.input, randomMessage(rng, method.input), {
    useProtoFieldName: rng.chance(0.7),
  });
  if (rng.chance(0.6)) text = new TextDecoder().decode(mutate(rng, new TextEncoder().encode(text)));
  if (rng.chance(0.05)) text = rng.pick(["", "null", "[]", "{", "1", '"x"', "{}{}", "\u0000"]);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (rng.chance(0.1)) headers["grpc-timeout"] = rng.pick(GRPC_TIMEOUTS);
  if (rng.chance(0.05)) headers["authorization"] = rng.pick(["", "x", "Bearer", "a.b.c"]);
  const body = new TextEncoder().encode(guardJson(method, text, ctx, true));
  return {
    method,
    via: "connect",
    request: {
      path: `/v3/${route.path}`,
      headers,
      body,
      streaming: method.kind === "bidi_streaming",
    },
    what: `gateway /v3/${route.path}: ${show(body)}`,
  };
}

/** Case `rng` of the fuzzer: any method, over gRPC (most), Connect or the JSON gateway. */
export function rpcCase(rng: Rng, ctx: GuardContext, authority: string): RpcCase {
  const method = rng.pick(RPC_METHODS);
  const via = rng.weighted([[55, "grpc"], [30, "connect"], [15, "gateway"]] as const);
  if (via === "grpc") return grpcCase(rng, method, ctx, authority);
  if (via === "gateway") return gatewayCase(rng, method, ctx) ?? connectCase(rng, method, ctx);
  return connectCase(rng, method, ctx);
}
