import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  KV,
  type PutRequest,
  PutRequestSchema,
  type PutResponse,
  PutResponseSchema,
  ResponseHeaderSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { decodePutRequest, writePutResponseEnvelope } from "../fast_codec.ts";
import {
  bodyBytesPledged,
  parseGrpcTimeout,
  PLEDGE_MAX_BYTES,
  serveUnaryGrpc,
  type UnaryAnswerCall,
  UnaryRoutes,
} from "./grpc_unary.ts";
import { encodeHeaders } from "./h2/hpack.ts";
import { startTestH2Server } from "./h2/test_server.ts";
import { hasRoom } from "../wire/headroom.ts";
import { waitFor } from "../transport/test_util.ts";

interface Reply {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Uint8Array;
}

async function withServer(
  impl: (req: PutRequest) => Promise<unknown> | unknown,
  fn: (
    call: (
      body: Uint8Array,
      headers?: http2.OutgoingHttpHeaders,
      pieces?: number[],
    ) => Promise<Reply>,
  ) => Promise<void>,
  readMaxBytes = 1024,
  decoder = false,
  answer?: (req: PutRequest, call: UnaryAnswerCall<PutResponse>) => void,
) {
  const routes = new UnaryRoutes();
  routes.add(
    KV.method.put,
    (req) => impl(req) as ReturnType<typeof create<typeof PutResponseSchema>>,
  );
  if (answer) routes.setAnswer(KV.method.put, answer);
  if (decoder) {
    routes.setDecoder(KV.method.put, decodePutRequest);
    routes.setEnvelopeWriter(KV.method.put, writePutResponseEnvelope);
  }
  const server = startTestH2Server((stream) => {
    if (!serveUnaryGrpc(routes, { readMaxBytes }, stream)) {
      stream.respond(encodeHeaders([[":status", "404"]]), true);
    }
  });
  const port = server.port;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on("error", () => {});
  // `pieces`: the body goes out in writes of these sizes, a turn apart
  // (each its own DATA frame), then the rest.
  const call = (body: Uint8Array, extra: http2.OutgoingHttpHeaders = {}, pieces: number[] = []) =>
    new Promise<Reply>((resolve, reject) => {
      const req = client.request({
        ":method": "POST",
        ":path": "/etcdserverpb.KV/Put",
        "content-type": "application/grpc",
        te: "trailers",
        ...extra,
      });
      const chunks: Uint8Array[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => (headers = h));
      req.on("trailers", (t) => (trailers = t));
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
      req.on("error", reject);
      let off = 0;
      const next = (i: number) => {
        if (i === pieces.length) return req.end(body.subarray(off));
        req.write(body.subarray(off, off + pieces[i]), () => setTimeout(() => next(i + 1), 2));
        off += pieces[i];
      };
      next(0);
    });
  try {
    await fn(call);
  } finally {
    await new Promise<void>((r) => client.close(() => r()));
    await server.close();
  }
}

function envelope(payload: Uint8Array, compressed = false): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = compressed ? 1 : 0;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

const putBytes = toBinary(
  PutRequestSchema,
  create(PutRequestSchema, { key: new TextEncoder().encode("k") }),
);
const okImpl = (req: PutRequest) =>
  create(PutResponseSchema, {
    header: create(ResponseHeaderSchema, { revision: BigInt(req.key.length + 41) }),
  });

Deno.test("unary call decodes the request and sends the response with grpc-status 0", async () => {
  await withServer(okImpl, async (call) => {
    const r = await call(envelope(putBytes));
    assert.equal(r.headers["content-type"], "application/grpc");
    assert.equal(r.trailers["grpc-status"], "0");
    const resp = fromBinary(PutResponseSchema, r.body.subarray(5));
    assert.equal(resp.header?.revision, 42n);
  });
});

Deno.test("gzip-compressed request messages are accepted", async () => {
  await withServer(okImpl, async (call) => {
    const r = await call(envelope(gzipSync(putBytes), true), { "grpc-encoding": "gzip" });
    assert.equal(r.trailers["grpc-status"], "0");
  });
});

Deno.test("etcd errors become grpc-status and the exact grpc-message", async () => {
  await withServer(() => Promise.reject(EtcdErrors.emptyKey()), async (call) => {
    const r = await call(envelope(putBytes));
    // trailers-only response: the status arrives in the headers
    const status = r.trailers["grpc-status"] ?? r.headers["grpc-status"];
    const message = r.trailers["grpc-message"] ?? r.headers["grpc-message"];
    assert.equal(status, "3");
    assert.equal(decodeURIComponent(String(message)), "etcdserver: key is not provided");
  });
});

Deno.test("a message over the size limit is refused with RESOURCE_EXHAUSTED", async () => {
  await withServer(okImpl, async (call) => {
    const big = toBinary(
      PutRequestSchema,
      create(PutRequestSchema, { key: new Uint8Array(1), value: new Uint8Array(4096) }),
    );
    const r = await call(envelope(big));
    assert.equal(r.headers["grpc-status"] ?? r.trailers["grpc-status"], "8");
  });
});

const putKey = new TextEncoder().encode("key-1");

Deno.test("a request in many DATA frames, the prefix split among them, arrives whole", async () => {
  const value = new Uint8Array(70_000).map((_, i) => i * 7);
  const big = toBinary(PutRequestSchema, create(PutRequestSchema, { key: putKey, value }));
  for (const decoder of [false, true]) {
    let got: PutRequest | undefined;
    const impl = (req: PutRequest) => {
      got = req;
      return okImpl(req);
    };
    await withServer(
      impl,
      async (call) => {
        for (const pieces of [[], [1], [2, 1, 3], [5, 100, 16384]]) {
          got = undefined;
          const r = await call(envelope(big), {}, pieces);
          assert.equal(r.trailers["grpc-status"], "0", `pieces ${pieces}`);
          const req = got as PutRequest | undefined; // set by the call
          assert.deepEqual(req?.key, putKey);
          assert.deepEqual(req?.value, value, `pieces ${pieces}`);
        }
        // A prefix announcing more than was sent: the envelope is incomplete.
        const short = envelope(big).subarray(0, 40_000);
        const r = await call(short, {}, [3, 10_000]);
        assert.equal(r.headers["grpc-status"] ?? r.trailers["grpc-status"], "13");
      },
      100_000,
      decoder,
    );
  }
});

Deno.test("a large request arrives in a buffer with room around it (its put's entry is built there)", async () => {
  const roomy: boolean[] = [];
  const impl = (req: PutRequest) => {
    roomy.push(hasRoom(req.value));
    return okImpl(req);
  };
  await withServer(
    impl,
    async (call) => {
      // Whole in the buffer sized from the first frame, or (sent in small
      // pieces first, or 300,000 bytes) grown to the size the prefix announced.
      for (const pieces of [[], [5, 100, 16384]]) {
        for (const n of [70_000, 300_000, 100]) {
          const body = toBinary(
            PutRequestSchema,
            create(PutRequestSchema, { key: putKey, value: new Uint8Array(n).fill(3) }),
          );
          const r = await call(envelope(body), {}, pieces);
          assert.equal(r.trailers["grpc-status"], "0");
        }
      }
      assert.deepEqual(roomy, [true, true, false, true, true, false]);
    },
    1_000_000,
    true,
  );
});

Deno.test("the put decoder yields what fromBinary yields, unknown fields left to it", async () => {
  for (const decoder of [false, true]) {
    let got: PutRequest | undefined;
    const impl = (req: PutRequest) => {
      got = req;
      return okImpl(req);
    };
    await withServer(
      impl,
      async (call) => {
        const withUnknown = new Uint8Array([...putBytes, 0x48, 0x01]); // field 9, varint 1
        for (const body of [putBytes, withUnknown]) {
          const r = await call(envelope(body));
          assert.equal(r.trailers["grpc-status"], "0");
          assert.equal(fromBinary(PutResponseSchema, r.body.subarray(5)).header?.revision, 42n);
          assert.equal(
            r.body.length,
            5 + new DataView(r.body.buffer, r.body.byteOffset).getUint32(1),
          );
          assert.deepEqual(
            toBinary(PutRequestSchema, got!),
            toBinary(PutRequestSchema, fromBinary(PutRequestSchema, body)),
          );
        }
        const r = await call(envelope(new Uint8Array([0x0a, 0x09, 0x01])));
        assert.equal(r.headers["grpc-status"] ?? r.trailers["grpc-status"], "13");
      },
      1024,
      decoder,
    );
  }
});

Deno.test("a call past its grpc-timeout gets DEADLINE_EXCEEDED", async () => {
  await withServer(
    () => new Promise((r) => setTimeout(() => r(okImpl(create(PutRequestSchema))), 300)),
    async (call) => {
      const r = await call(envelope(putBytes), { "grpc-timeout": "50m" });
      assert.equal(r.headers["grpc-status"] ?? r.trailers["grpc-status"], "4");
    },
  );
});

Deno.test("a method with an answer replies through the call, once, instead of through impl", async () => {
  const late: (() => void)[] = [];
  await withServer(
    () => {
      throw new Error("impl used");
    },
    async (call) => {
      const ok = await call(envelope(putBytes));
      assert.equal(ok.trailers["grpc-status"], "0");
      const resp = fromBinary(PutResponseSchema, ok.body.subarray(5));
      assert.equal(resp.header?.revision, 42n, "the answer's response");

      const refused = await call(envelope(toBinary(PutRequestSchema, create(PutRequestSchema))));
      assert.equal(refused.headers["grpc-status"], "3");
      assert.equal(
        decodeURIComponent(String(refused.headers["grpc-message"])),
        "etcdserver: key is not provided",
      );

      // Past its grpc-timeout: DEADLINE_EXCEEDED, and the answer that comes
      // after is dropped.
      const timedOut = await call(envelope(putBytes), { "grpc-timeout": "50m" });
      assert.equal(timedOut.headers["grpc-status"] ?? timedOut.trailers["grpc-status"], "4");
      for (const f of late) f();
    },
    1024,
    true,
    (req, c) => {
      if (req.key.length === 0) return c.fail(EtcdErrors.emptyKey());
      const answer = () => {
        c.reply(okImpl(req));
        c.reply(okImpl(req)); // a second answer is ignored
      };
      if (c.requestHeader.get("grpc-timeout")) late.push(answer);
      else setTimeout(answer, 5);
    },
  );
});

Deno.test("grpc-timeout units", () => {
  assert.equal(parseGrpcTimeout("5S"), 5000);
  assert.equal(parseGrpcTimeout("100m"), 100);
  assert.equal(parseGrpcTimeout("2M"), 120000);
  assert.equal(parseGrpcTimeout("bogus"), undefined);
  assert.equal(parseGrpcTimeout("99999999u"), 99999.999);
  assert.equal(parseGrpcTimeout("1H"), 3_600_000);
  assert.equal(parseGrpcTimeout("0n"), 0);
  assert.equal(parseGrpcTimeout("123456789S"), undefined); // more than 8 digits
  assert.equal(parseGrpcTimeout("S"), undefined);
  assert.equal(parseGrpcTimeout("1x"), undefined);
  assert.equal(parseGrpcTimeout("-1S"), undefined);
  assert.equal(parseGrpcTimeout("1 S"), undefined);
  assert.equal(parseGrpcTimeout(undefined), undefined);
});

Deno.test("bodies announced and not sent hold at most the pledge budget, and give it back when cancelled", async () => {
  const routes = new UnaryRoutes();
  routes.add(KV.method.put, okImpl);
  const server = startTestH2Server((stream) => {
    if (!serveUnaryGrpc(routes, { readMaxBytes: 4 << 20 }, stream)) {
      stream.respond(encodeHeaders([[":status", "404"]]), true);
    }
  });
  const client = http2.connect(`http://127.0.0.1:${server.port}`);
  client.on("error", () => {});
  const announced = 3 << 20;
  // Each stream sends the prefix of a 3 MiB message and 100 bytes of it.
  const first = new Uint8Array(105);
  new DataView(first.buffer).setUint32(1, announced);
  const ahead = 5 + announced - first.length;
  const fits = Math.floor(PLEDGE_MAX_BYTES / ahead);
  const reqs: http2.ClientHttp2Stream[] = [];
  try {
    assert.equal(bodyBytesPledged(), 0);
    for (let i = 0; i < fits + 4; i++) {
      const req = client.request({
        ":method": "POST",
        ":path": "/etcdserverpb.KV/Put",
        "content-type": "application/grpc",
        te: "trailers",
      });
      req.on("error", () => {});
      req.write(first);
      reqs.push(req);
    }
    // A complete large request still goes through meanwhile. Frames of one
    // connection are read in order, so once it is answered every stream's
    // first frame has been received.
    const body = toBinary(
      PutRequestSchema,
      create(PutRequestSchema, { key: putKey, value: new Uint8Array(200_000).fill(7) }),
    );
    const done = new Promise<string | undefined>((resolve, reject) => {
      const req = client.request({
        ":method": "POST",
        ":path": "/etcdserverpb.KV/Put",
        "content-type": "application/grpc",
        te: "trailers",
      });
      let status: string | undefined;
      req.on("trailers", (t) => (status = t["grpc-status"] as string | undefined));
      req.on("data", () => {});
      req.on("end", () => resolve(status));
      req.on("error", reject);
      req.end(envelope(body));
    });
    assert.equal(await done, "0");
    // The first `fits` got their whole body at once; the rest grow with what arrives.
    assert.equal(bodyBytesPledged(), fits * ahead);
    assert.ok(bodyBytesPledged() <= PLEDGE_MAX_BYTES);
    for (const req of reqs) req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => bodyBytesPledged() === 0, "the pledges given back");
  } finally {
    for (const req of reqs) req.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise<void>((r) => client.close(() => r()));
    await server.close();
  }
});
