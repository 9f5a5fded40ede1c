/**
 * Where a token is read on each protocol: the `token` gRPC metadata, and
 * `authorization` (with or without `Bearer `) on Connect and gRPC-Web
 * requests, over HTTP/1.1 and HTTP/2 alike.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  AuthStatusRequestSchema,
  AuthStatusResponseSchema,
  RangeRequestSchema,
  RangeResponseSchema,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { AuthClient, GrpcError } from "./harness/auth_client.ts";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("auth_protocols_test.ts");

Deno.test({
  name: "auth: tokens from 'token' metadata and from 'authorization' on Connect and gRPC-Web",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
    const grpc = new AuthClient(m.clientUrl);
    try {
      for (
        const step of [
          ["user", "add", "root:rootpw"],
          ["role", "add", "root"],
          ["user", "grant-role", "root", "root"],
          ["user", "add", "alice:alicepw"],
          ["role", "add", "ra"],
          ["role", "grant-permission", "ra", "read", "a/", "--prefix=true"],
          ["user", "grant-role", "alice", "ra"],
          ["put", "a/1", "one"],
          ["auth", "enable"],
        ]
      ) await etcdctlOk(m.endpoint, step);
      const token = await grpc.login("alice", "alicepw");

      // AuthStatus: any authenticated user (revision 1 + 7 user/role changes).
      const status = await grpc.call(
        "/etcdserverpb.Auth/AuthStatus",
        AuthStatusRequestSchema,
        {},
        AuthStatusResponseSchema,
      );
      assert.equal(status.enabled, true);
      assert.equal(status.authRevision, 8n);
      const anon = new AuthClient(m.clientUrl);
      await assert.rejects(
        anon.call(
          "/etcdserverpb.Auth/AuthStatus",
          AuthStatusRequestSchema,
          {},
          AuthStatusResponseSchema,
        ),
        (e: unknown) => e instanceof GrpcError && /user name is empty/.test(e.message),
      );
      anon.close();

      /** A Connect JSON unary call over HTTP/1.1 (fetch). */
      const connect = async (path: string, body: unknown, headers: Record<string, string>) => {
        const res = await fetch(`${m.clientUrl}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify(body),
        });
        return { status: res.status, json: await res.json() };
      };
      const range = (headers: Record<string, string>, key = "a/1") =>
        connect("/etcdserverpb.KV/Range", { key: btoa(key) }, headers);

      const bearer = await range({ authorization: `Bearer ${token}` });
      assert.equal(bearer.status, 200, JSON.stringify(bearer.json));
      assert.equal(atob(bearer.json.kvs[0].value), "one");
      const bare = await range({ authorization: token });
      assert.equal(bare.status, 200, JSON.stringify(bare.json));
      const denied = await range({ authorization: `Bearer ${token}` }, "b");
      assert.equal(denied.json.message, "etcdserver: permission denied");
      assert.equal(denied.json.code, "permission_denied");
      const none = await range({});
      assert.equal(none.json.message, "etcdserver: user name is empty");
      const bad = await range({ authorization: "Bearer nope.7" });
      assert.equal(bad.json.message, "etcdserver: invalid auth token");
      assert.equal(bad.json.code, "unauthenticated");

      // Authenticate itself over Connect: the token it returns works on gRPC.
      const login = await connect("/etcdserverpb.Auth/Authenticate", {
        name: "alice",
        password: "alicepw",
      }, {});
      assert.equal(login.status, 200);
      const viaConnect = new AuthClient(m.clientUrl, login.json.token);
      try {
        const kvs = await viaConnect.call(
          "/etcdserverpb.KV/Range",
          RangeRequestSchema,
          { key: new TextEncoder().encode("a/1") },
          RangeResponseSchema,
        );
        assert.equal(kvs.kvs.length, 1);
      } finally {
        viaConnect.close();
      }

      // gRPC-Web (binary) over HTTP/1.1 with the authorization header.
      const req = toBinary(
        RangeRequestSchema,
        create(RangeRequestSchema, { key: new TextEncoder().encode("a/1") }),
      );
      const framed = new Uint8Array(5 + req.length);
      new DataView(framed.buffer).setUint32(1, req.length);
      framed.set(req, 5);
      const web = async (headers: Record<string, string>) => {
        const res = await fetch(`${m.clientUrl}/etcdserverpb.KV/Range`, {
          method: "POST",
          headers: { "content-type": "application/grpc-web+proto", ...headers },
          body: framed,
        });
        const text = new TextDecoder().decode(new Uint8Array(await res.arrayBuffer()));
        return { status: res.headers.get("grpc-status") ?? /grpc-status:\s*(\d+)/.exec(text)?.[1] };
      };
      assert.equal((await web({ authorization: `Bearer ${token}` })).status, "0");
      assert.equal(
        (await web({})).status,
        "3",
        "no credentials: InvalidArgument (user name empty)",
      );
    } finally {
      grpc.close();
      await m.destroy();
    }
  },
});
