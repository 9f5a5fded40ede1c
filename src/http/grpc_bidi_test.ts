import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Watch,
  type WatchRequest,
  WatchRequestSchema,
  WatchResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type BidiOpen, BidiRoutes, serveBidiGrpc } from "./grpc_bidi.ts";
import { encodeHeaders } from "./h2/hpack.ts";
import { startTestH2Server } from "./h2/test_server.ts";

interface Outcome {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  messages: bigint[];
}

function envelope(req: WatchRequest): Uint8Array {
  const bytes = toBinary(WatchRequestSchema, req);
  const out = new Uint8Array(5 + bytes.length);
  new DataView(out.buffer).setUint32(1, bytes.length);
  out.set(bytes, 5);
  return out;
}

/** A progress request whose watch id the test session echoes back. */
const progress = (id: bigint) =>
  create(WatchRequestSchema, {
    requestUnion: { case: "cancelRequest", value: { watchId: id } },
  });

/**
 * Runs one call against a server whose session is `open`; `drive` writes
 * the request side. Resolves with what the client saw.
 */
async function call(
  open: BidiOpen<typeof WatchRequestSchema, typeof WatchResponseSchema>,
  drive: (req: http2.ClientHttp2Stream) => void,
  extra: http2.OutgoingHttpHeaders = {},
  hold?: Promise<unknown>,
): Promise<Outcome> {
  const readMaxBytes = 1024;
  const routes = new BidiRoutes();
  routes.add(Watch.method.watch, open);
  const server = startTestH2Server((stream) => {
    if (!serveBidiGrpc(routes, { readMaxBytes }, stream)) {
      stream.respond(encodeHeaders([[":status", "404"]]), true);
    }
  });
  const client = http2.connect(`http://127.0.0.1:${server.port}`);
  client.on("error", () => {});
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("call timed out")), 3000);
      const req = client.request({
        ":method": "POST",
        ":path": "/etcdserverpb.Watch/Watch",
        "content-type": "application/grpc",
        te: "trailers",
        ...extra,
      });
      const out: Outcome = { headers: {}, trailers: {}, messages: [] };
      let buf = new Uint8Array(0);
      req.on("response", (h) => (out.headers = h));
      req.on("trailers", (t) => (out.trailers = t));
      req.on("data", (chunk: Uint8Array) => {
        const all = new Uint8Array(buf.length + chunk.length);
        all.set(buf);
        all.set(chunk, buf.length);
        let off = 0;
        while (all.length - off >= 5) {
          const len = new DataView(all.buffer, off + 1, 4).getUint32(0);
          if (all.length - off < 5 + len) break;
          out.messages.push(
            fromBinary(WatchResponseSchema, all.subarray(off + 5, off + 5 + len)).watchId,
          );
          off += 5 + len;
        }
        buf = all.slice(off);
      });
      req.on("error", () => {});
      req.on("close", () => {
        clearTimeout(timer);
        resolve(out);
      });
      drive(req);
    });
  } finally {
    // Waited for before the server closes (closing would abort every session).
    if (hold) await hold;
    await new Promise<void>((r) => client.close(() => r()));
    await server.close();
  }
}

/** Echoes each request's cancel id in a response; the client's half-close ends the call OK. */
const echo: BidiOpen<typeof WatchRequestSchema, typeof WatchResponseSchema> = (_h, sender) => {
  const ids: bigint[] = [];
  return {
    message(req) {
      if (req.requestUnion.case === "cancelRequest") ids.push(req.requestUnion.value.watchId);
    },
    async end() {
      await sender.send(ids.map((id) => create(WatchResponseSchema, { watchId: id })));
      sender.finish();
    },
    abort() {},
  };
};

const status = (o: Outcome) => o.trailers["grpc-status"] ?? o.headers["grpc-status"];
const message = (o: Outcome) =>
  decodeURIComponent(String(o.trailers["grpc-message"] ?? o.headers["grpc-message"] ?? ""));

Deno.test("bidi: messages split across DATA frames are decoded; one batch answers them all", async () => {
  const o = await call(echo, (req) => {
    const all = new Uint8Array([
      ...envelope(progress(1n)),
      ...envelope(progress(2n)),
      ...envelope(progress(3n)),
    ]);
    // Byte by byte in places: envelopes straddle DATA frames.
    req.write(all.subarray(0, 3));
    req.write(all.subarray(3, 9));
    req.write(all.subarray(9));
    req.end();
  });
  assert.equal(o.headers["content-type"], "application/grpc");
  assert.deepEqual(o.messages, [1n, 2n, 3n]);
  assert.equal(status(o), "0");
});

Deno.test("bidi: an error before any response is trailers-only; after responses it is a trailer", async () => {
  const early = await call(() => {
    throw new ConnectError("etcdserver: no leader", Code.Unavailable);
  }, (req) => req.end());
  assert.equal(early.headers["grpc-status"], "14");
  assert.equal(message(early), "etcdserver: no leader");

  const late = await call((_h, sender) => ({
    message() {
      sender.send([create(WatchResponseSchema, { watchId: 9n })]).then(() =>
        sender.finish(new ConnectError("etcdserver: no leader", Code.Unavailable))
      );
    },
    end() {},
    abort() {},
  }), (req) => req.write(envelope(progress(1n))));
  assert.deepEqual(late.messages, [9n]);
  assert.equal(late.headers["grpc-status"], undefined);
  assert.equal(late.trailers["grpc-status"], "14");
});

Deno.test("bidi: an oversized message ends the call with RESOURCE_EXHAUSTED and aborts the session", async () => {
  let aborted = false;
  const o = await call((_h, _sender) => ({
    message() {},
    end() {},
    abort() {
      aborted = true;
    },
  }), (req) => {
    const big = create(WatchRequestSchema, {
      requestUnion: {
        case: "createRequest",
        value: { key: new Uint8Array(4000) },
      },
    });
    req.write(envelope(big));
  });
  assert.equal(status(o), String(Code.ResourceExhausted));
  assert.ok(aborted);
});

Deno.test("bidi: a client reset aborts the session; grpc-timeout ends it with DEADLINE_EXCEEDED", async () => {
  let onAbort: () => void = () => {};
  const aborted = new Promise<void>((resolve, reject) => {
    onAbort = resolve;
    setTimeout(() => reject(new Error("the reset did not abort the session")), 2000);
  });
  await call(
    (_h, _sender) => ({
      message() {},
      end() {},
      abort: () => onAbort(),
    }),
    (req) => {
      req.write(envelope(progress(1n)));
      setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 100);
    },
    {},
    aborted,
  );

  const timed = await call((_h, _sender) => ({ message() {}, end() {}, abort() {} }), (req) => {
    req.write(envelope(progress(1n)));
  }, { "grpc-timeout": "100m" });
  assert.equal(status(timed), String(Code.DeadlineExceeded));
});
