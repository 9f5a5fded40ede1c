/**
 * The same KV calls over every protocol the client port speaks: gRPC over
 * HTTP/2 (answered by the direct unary path), and the Connect protocol and
 * gRPC-Web over HTTP/1.1 and HTTP/2 (answered by connect-node). Results and
 * errors must be identical, since both paths call one implementation.
 */
import assert from "node:assert/strict";
import { type Client, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { KV, Maintenance, Watch } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Member } from "./harness/member.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test({
  name: "protocols: gRPC, Connect and gRPC-Web give identical KV results and errors",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const member = await Member.start({ kind: "cairn" });
    try {
      const baseUrl = `http://127.0.0.1:${member.clientPort}`;
      // A bounded time per call, so a stuck protocol fails the test by name.
      const defaultTimeoutMs = 10_000;
      const transports: Record<string, Transport> = {
        "grpc h2": createGrpcTransport({ baseUrl, defaultTimeoutMs }),
        "connect h1": createConnectTransport({ baseUrl, httpVersion: "1.1", defaultTimeoutMs }),
        "connect h2": createConnectTransport({ baseUrl, httpVersion: "2", defaultTimeoutMs }),
        "grpc-web h1": createGrpcWebTransport({ baseUrl, httpVersion: "1.1", defaultTimeoutMs }),
        "grpc-web h2": createGrpcWebTransport({ baseUrl, httpVersion: "2", defaultTimeoutMs }),
      };
      for (const [name, transport] of Object.entries(transports)) {
        const kv: Client<typeof KV> = createClient(KV, transport);
        const key = enc(`proto/${name}`);
        const put = await kv.put({ key, value: enc(name), prevKv: true });
        assert.ok(put.header && put.header.revision > 1n, `${name}: put revision`);
        const got = await kv.range({ key });
        assert.equal(got.kvs.length, 1, `${name}: range finds the key`);
        assert.equal(dec(got.kvs[0].value), name);
        assert.equal(got.kvs[0].modRevision, put.header!.revision);

        const txn = await kv.txn({
          compare: [{
            key,
            target: 2, /* MOD */
            result: 0,
            targetUnion: { case: "modRevision", value: put.header!.revision },
          }],
          success: [{ request: { case: "requestPut", value: { key, value: enc("txn") } } }],
        });
        assert.equal(txn.succeeded, true, `${name}: txn compare on mod revision`);

        const err = await kv.put({ key: new Uint8Array(0), value: enc("x") }).then(
          () => undefined,
          (e) => ConnectError.from(e),
        );
        assert.ok(err, `${name}: empty key must fail`);
        assert.equal(err.code, 3, `${name}: InvalidArgument`);
        assert.equal(err.rawMessage, "etcdserver: key is not provided", name);

        const future = await kv.range({ key, revision: 1_000_000n }).then(
          () => undefined,
          (e) => ConnectError.from(e),
        );
        assert.equal(future?.code, 11, `${name}: OutOfRange`);
        assert.equal(
          future?.rawMessage,
          "etcdserver: mvcc: required revision is a future revision",
        );

        const status = await createClient(Maintenance, transport).status({});
        assert.ok(status.leader !== 0n, `${name}: status names a leader`);
      }
    } finally {
      await member.destroy();
    }
  },
});

Deno.test({
  name: "protocols: Watch streams carry events over gRPC and over Connect with JSON",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const member = await Member.start({ kind: "cairn" });
    try {
      const baseUrl = `http://127.0.0.1:${member.clientPort}`;
      const transports: Record<string, Transport> = {
        "grpc h2": createGrpcTransport({ baseUrl }),
        "connect+json h2": createConnectTransport({
          baseUrl,
          httpVersion: "2",
          useBinaryFormat: false,
        }),
      };
      const kv = createClient(KV, transports["grpc h2"]);
      for (const [name, transport] of Object.entries(transports)) {
        const key = enc(`watch/${name}`);
        const requests = async function* () {
          yield { requestUnion: { case: "createRequest" as const, value: { key } } };
          // Keep the request side open while events arrive.
          await new Promise((r) => setTimeout(r, 3000));
        };
        const abort = new AbortController();
        const seen: string[] = [];
        const watching = (async () => {
          for await (
            const resp of createClient(Watch, transport).watch(requests(), { signal: abort.signal })
          ) {
            if (resp.created) await kv.put({ key, value: enc(`v-${name}`) });
            for (const ev of resp.events) seen.push(dec(ev.kv!.value));
            if (seen.length > 0) break;
          }
        })();
        await Promise.race([watching, new Promise((r) => setTimeout(r, 5000))]);
        abort.abort();
        assert.deepEqual(seen, [`v-${name}`], `${name}: the put arrives as a watch event`);
      }
    } finally {
      await member.destroy();
    }
  },
});
