/**
 * One fuzz case of the HTTP/2 frame fuzzer: the bytes a hostile client
 * writes on one connection. Usually a valid preface and SETTINGS, then a
 * run of frames built to sit near the protocol's edges (valid requests,
 * HPACK garbage and dynamic-table abuse, CONTINUATION runs, padding that
 * lies, window updates of 0 and 2^31-1, settings out of range, frames on
 * the wrong stream, lengths that lie, unknown types), and sometimes byte
 * mutations over the whole run.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { RangeRequestSchema } from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { PREFACE, rawFrame, settingsPayload, T, u32 } from "../../src/http/h2/test_raw_client.ts";
import { hpackLiterals } from "./h2_calls.ts";
import { concat, mutate } from "./mutate.ts";
import type { Rng } from "./rng.ts";

const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

/** The bytes of one case and whether they are well framed (every length tells the truth). */
export interface FrameCase {
  bytes: Uint8Array;
  /** Frame lengths are honest and nothing was mutated: the server must still answer a PING. */
  framed: boolean;
  /** Every frame is one a conforming client may send: the server must not end the connection. */
  conforming: boolean;
  /** One line per frame, for failure messages. */
  what: string[];
}

/** State while building one connection's frames. */
interface Builder {
  rng: Rng;
  /** Highest client stream id used so far. */
  lastId: number;
  frames: Uint8Array[];
  what: string[];
  framed: boolean;
  /** Build frames a conforming client could send (so the case gets past the first error). */
  tame: boolean;
  /** Streams the client has not ended or reset (tame cases send DATA and RST only on these). */
  open: number[];
  /** PINGs sent (a conforming client does not flood: keepalive enforcement may GOAWAY it). */
  pings: number;
}

function hpackInt(value: number, prefixBits: number, high: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/**
 * A header block for `fields` that uses HPACK's other representations too:
 * static-table indexes, literals added to the dynamic table, references to
 * dynamic entries (which may not exist), table size updates (which may be
 * too large), and strings flagged as Huffman-coded that are not.
 */
function hpackBlock(rng: Rng, fields: [string, string][], tame = false): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  const str = (s: string) => {
    const b = enc.encode(s);
    const huff = !tame && rng.chance(0.03) ? 0x80 : 0;
    out.push(...hpackInt(b.length, 7, huff), ...b);
  };
  if (rng.chance(0.1)) {
    const size = tame ? rng.pick([0, 100, 4096]) : rng.pick([0, 100, 4096, 65536, 2 ** 31]);
    out.push(...hpackInt(size, 5, 0x20));
  }
  for (const [name, value] of fields) {
    const form = rng.weighted([[60, "plain"], [25, "indexed-add"], [5, "never"], [
      tame ? 0 : 10,
      "ref",
    ]]);
    if (form === "ref") {
      // An indexed field: static (1..61) or dynamic (62+, often not there).
      out.push(...hpackInt(rng.chance(0.7) ? rng.int(1, 61) : rng.int(62, 200), 7, 0x80));
      continue;
    }
    out.push(form === "indexed-add" ? 0x40 : form === "never" ? 0x10 : 0x00);
    str(name);
    str(value);
  }
  return Uint8Array.from(out);
}

const PATHS = [
  "/etcdserverpb.KV/Range",
  "/etcdserverpb.KV/Put",
  "/etcdserverpb.Watch/Watch",
  "/etcdserverpb.Lease/LeaseKeepAlive",
  "/etcdserverpb.Maintenance/Status",
  "/raft/stream",
  "/raft/snapshot",
  "/health",
  "/v3/kv/range",
  "/",
  "",
  "*",
];

function requestFields(rng: Rng, tame = false): [string, string][] {
  const fields: [string, string][] = [
    [":method", rng.weighted([[85, "POST"], [10, "GET"], [5, "CONNECT"]])],
    [":scheme", "http"],
    [":path", rng.pick(PATHS)],
    [":authority", "127.0.0.1"],
    ["content-type", rng.weighted([[80, "application/grpc"], [20, "application/proto"]])],
    ["te", "trailers"],
  ];
  if (tame) return fields;
  if (rng.chance(0.15)) fields.splice(rng.below(fields.length), 1); // a pseudo-header missing
  if (rng.chance(0.1)) {
    fields.push([rng.pick([":path", ":method", "Upper", "connection", ""]), "x"]);
  }
  if (rng.chance(0.05)) fields.push(["x-big", "v".repeat(rng.int(1000, 70_000))]);
  if (rng.chance(0.1)) fields.reverse(); // pseudo-headers after regular ones
  return fields;
}

/** A gRPC-framed Range request. */
function rangeMessage(rng: Rng): Uint8Array {
  const req = toBinary(
    RangeRequestSchema,
    create(RangeRequestSchema, { key: new TextEncoder().encode(rng.pick(["a", "fz/", "\0"])) }),
  );
  const out = new Uint8Array(5 + req.length);
  new DataView(out.buffer).setUint32(1, req.length);
  out.set(req, 5);
  return out;
}

/** A stream id: usually the next new one, sometimes an old, even, zero or far one. */
function streamId(b: Builder, fresh: boolean): number {
  const r = b.rng;
  if (fresh && (b.tame || r.chance(0.85))) return (b.lastId = b.lastId + 2);
  if (b.tame) return b.open.length > 0 ? r.pick(b.open) : 0;
  return r.weighted([
    [30, Math.max(1, b.lastId)],
    [20, 0],
    [15, 2 * r.int(1, 50)],
    [15, 2 * r.int(0, 50) + 1],
    [10, 0x7fffffff],
    [10, b.lastId + 2],
  ]);
}

/** True with probability p, never for a tame case. */
function wild(b: Builder, p: number): boolean {
  return !b.tame && b.rng.chance(p);
}

function push(b: Builder, what: string, frame: Uint8Array): void {
  b.frames.push(frame);
  b.what.push(what);
}

/** Optional padding: a pad length byte and that many zeros, sometimes lying. */
function pad(b: Builder, payload: Uint8Array): { flags: number; payload: Uint8Array } {
  if (!b.rng.chance(0.1)) return { flags: 0, payload };
  const n = b.rng.below(16);
  const stated = wild(b, 0.3) ? b.rng.below(256) : n; // may exceed the frame
  return { flags: PADDED, payload: concat(Uint8Array.of(stated), payload, new Uint8Array(n)) };
}

/** Adds one random frame (or a short run of related frames). */
function addFrame(b: Builder): void {
  const r = b.rng;
  const kind = b.tame ? tameKind(r) : r.weighted(
    [
      [14, "request"],
      [8, "hpack garbage"],
      [6, "continuation"],
      [8, "data"],
      [8, "settings"],
      [6, "ping"],
      [8, "window update"],
      [6, "rst"],
      [5, "priority"],
      [3, "push promise"],
      [3, "goaway"],
      [4, "unknown"],
      [4, "oversize"],
      [3, "length lie"],
    ] as const,
  );
  switch (kind) {
    case "request": {
      const id = streamId(b, true);
      const block = hpackBlock(r, requestFields(r, b.tame), b.tame);
      const withData = r.chance(0.7);
      const prio = r.chance(0.1) ? PRIORITY : 0;
      // RFC 9113 §6.2: [pad length] [dependency, weight] block [padding].
      const p = pad(
        b,
        prio
          ? concat(
            u32(wild(b, 0.2) ? id : r.below(Math.max(1, id))),
            Uint8Array.of(r.below(256)),
            block,
          )
          : block,
      );
      const payload = p.payload;
      push(
        b,
        `HEADERS request id=${id}`,
        rawFrame(
          T.HEADERS,
          END_HEADERS | p.flags | prio | (withData ? 0 : END_STREAM),
          id,
          payload,
        ),
      );
      if (withData) {
        const d = pad(b, rangeMessage(r));
        const end = r.chance(b.tame ? 0.5 : 0.9) ? END_STREAM : 0;
        if (!end) b.open.push(id);
        push(b, `DATA id=${id}`, rawFrame(T.DATA, d.flags | end, id, d.payload));
      }
      return;
    }
    case "hpack garbage": {
      const id = streamId(b, true);
      const valid = hpackBlock(r, requestFields(r));
      const block = r.chance(0.5) ? mutate(r, valid) : r.bytes(r.size(200));
      push(b, `HEADERS garbage id=${id}`, rawFrame(T.HEADERS, END_HEADERS | END_STREAM, id, block));
      return;
    }
    case "continuation": {
      const id = streamId(b, true);
      const block = hpackBlock(r, requestFields(r, b.tame), b.tame);
      const parts = r.int(2, 5);
      const step = Math.ceil(block.length / parts);
      push(
        b,
        `HEADERS (no END_HEADERS) id=${id}`,
        rawFrame(T.HEADERS, END_STREAM, id, block.subarray(0, step)),
      );
      for (let k = 1; k < parts; k++) {
        if (wild(b, 0.1)) addFrame(b); // another frame inside the block: a protocol error
        const last = k === parts - 1;
        const cid = wild(b, 0.1) ? streamId(b, false) : id;
        if (r.chance(0.1)) {
          // An empty CONTINUATION is legal; a run of them is what the count limit is for.
          push(b, `CONTINUATION id=${id} (empty)`, rawFrame(T.CONTINUATION, 0, id));
        }
        const chunk = block.subarray(k * step, (k + 1) * step);
        push(
          b,
          `CONTINUATION id=${cid}${last ? " END_HEADERS" : ""}`,
          rawFrame(T.CONTINUATION, last ? END_HEADERS : 0, cid, chunk),
        );
      }
      return;
    }
    case "data": {
      if (b.tame && b.open.length === 0) return addFrame(b);
      const id = streamId(b, false);
      const d = pad(b, r.chance(0.5) ? rangeMessage(r) : r.bytes(r.size(2000)));
      const flags = d.flags | (r.chance(0.5) ? END_STREAM : 0);
      if (flags & END_STREAM) b.open = b.open.filter((x) => x !== id);
      push(b, `DATA id=${id} len=${d.payload.length}`, rawFrame(T.DATA, flags, id, d.payload));
      return;
    }
    case "settings": {
      const n = r.int(0, 4);
      const entries: Array<[number, number]> = [];
      for (let k = 0; k < n; k++) {
        entries.push(b.tame ? validSetting(r) : [r.int(0, 10), r.edgyU32()]);
      }
      let payload = settingsPayload(entries);
      if (wild(b, 0.1)) payload = payload.subarray(0, Math.max(0, payload.length - r.int(1, 5)));
      const ack = wild(b, 0.15) ? 1 : 0;
      const id = wild(b, 0.1) ? streamId(b, false) : 0;
      push(
        b,
        `SETTINGS ${ack ? "ACK " : ""}${JSON.stringify(entries)} id=${id}`,
        rawFrame(T.SETTINGS, ack, id, payload),
      );
      return;
    }
    case "ping": {
      if (b.tame && b.pings >= 1) return addFrame(b);
      b.pings++;
      const len = wild(b, 0.15) ? r.int(0, 16) : 8;
      const id = wild(b, 0.1) ? streamId(b, false) : 0;
      const ack = wild(b, 0.2) ? 1 : 0;
      for (let k = wild(b, 0.1) ? r.int(2, 200) : 1; k > 0; k--) {
        push(b, `PING len=${len} ack=${ack} id=${id}`, rawFrame(T.PING, ack, id, r.bytes(len)));
      }
      return;
    }
    case "window update": {
      const id = r.chance(0.4) ? 0 : streamId(b, false);
      const inc = b.tame
        ? r.int(1, 65535)
        : r.weighted([[30, r.int(1, 65535)], [20, 0], [20, 0x7fffffff], [15, r.edgyU32()], [
          15,
          1,
        ]]);
      const payload = wild(b, 0.1) ? r.bytes(r.int(0, 8)) : u32(inc);
      push(b, `WINDOW_UPDATE id=${id} inc=${inc}`, rawFrame(T.WINDOW_UPDATE, 0, id, payload));
      return;
    }
    case "rst": {
      if (b.tame && b.open.length === 0) return addFrame(b);
      const id = streamId(b, false);
      b.open = b.open.filter((x) => x !== id);
      const payload = wild(b, 0.1) ? r.bytes(r.int(0, 8)) : u32(r.int(0, 14));
      push(b, `RST_STREAM id=${id}`, rawFrame(T.RST_STREAM, 0, id, payload));
      return;
    }
    case "priority": {
      // PRIORITY may name any stream but 0 (idle, open or closed).
      const id = b.tame ? Math.max(1, b.lastId) : streamId(b, false);
      const dep = wild(b, 0.3) ? id : r.below(Math.max(1, id));
      const payload = !wild(b, 0.1)
        ? concat(u32(dep | (r.chance(0.3) ? 0x80000000 : 0)), Uint8Array.of(r.below(256)))
        : r.bytes(r.int(0, 8));
      push(b, `PRIORITY id=${id} dep=${dep}`, rawFrame(T.PRIORITY, 0, id, payload));
      return;
    }
    case "push promise": {
      const id = streamId(b, false);
      const payload = concat(u32(r.int(0, 20)), hpackLiterals([[":path", "/"]]));
      push(b, `PUSH_PROMISE id=${id}`, rawFrame(T.PUSH_PROMISE, END_HEADERS, id, payload));
      return;
    }
    case "goaway": {
      const payload = concat(u32(r.below(100)), u32(r.int(0, 14)), r.bytes(r.size(20)));
      push(
        b,
        "GOAWAY",
        rawFrame(
          T.GOAWAY,
          0,
          r.chance(0.9) ? 0 : 1,
          r.chance(0.9) ? payload : payload.subarray(0, r.below(8)),
        ),
      );
      return;
    }
    case "unknown": {
      const type = r.int(10, 255);
      const id = streamId(b, false);
      push(b, `type ${type} id=${id}`, rawFrame(type, r.below(256), id, r.bytes(r.size(100))));
      return;
    }
    case "oversize": {
      // Past the 16 KiB SETTINGS_MAX_FRAME_SIZE the server announced.
      const type = r.pick([T.DATA, T.HEADERS, T.SETTINGS, T.CONTINUATION, 20]);
      const id = type === T.SETTINGS ? 0 : streamId(b, false);
      const len = r.int(16_385, 40_000);
      push(
        b,
        `oversize type ${type} id=${id} len=${len}`,
        rawFrame(type, 0, id, new Uint8Array(len)),
      );
      return;
    }
    case "length lie": {
      // The header states a length the payload does not have: the frames after it are misread.
      const type = r.int(0, 9);
      const payload = r.bytes(r.size(50));
      const len = r.chance(0.5) ? payload.length + r.int(1, 30) : r.int(0, 0xffffff);
      push(
        b,
        `length lie type ${type} stated=${len} real=${payload.length}`,
        rawFrame(type, r.below(256), streamId(b, false), payload, len),
      );
      b.framed = false;
      return;
    }
  }
}

/** A SETTINGS entry within its legal range (RFC 9113 §6.5.2). */
function validSetting(r: Rng): [number, number] {
  const id = r.int(1, 6);
  switch (id) {
    case 2:
      return [id, r.int(0, 1)];
    case 4: // not past 2^30: with window updates the stream windows could pass 2^31-1
      return [id, r.int(0, 2 ** 30)];
    case 5:
      return [id, r.int(16_384, 16_777_215)];
    default:
      return [id, r.edgyU32()];
  }
}

/** What a conforming client sends: requests, flow control, settings, pings, priorities. */
function tameKind(r: Rng) {
  return r.weighted(
    [
      [30, "request"],
      [10, "continuation"],
      [10, "data"],
      [10, "settings"],
      [10, "ping"],
      [15, "window update"],
      [8, "rst"],
      [5, "priority"],
      [2, "unknown"],
    ] as const,
  );
}

/** Builds case `rng`: the client's bytes for one connection. */
export function frameCase(rng: Rng): FrameCase {
  // A third of the cases are conforming but for (at most) their last frame.
  const tame = rng.chance(1 / 3);
  const b: Builder = {
    rng,
    lastId: -1,
    frames: [],
    what: [],
    framed: true,
    tame,
    open: [],
    pings: 0,
  };
  const preface = tame
    ? "valid"
    : rng.weighted([[92, "valid"], [4, "mutated"], [2, "truncated"], [2, "none"]]);
  const head: Uint8Array[] = [];
  if (preface === "valid") head.push(PREFACE);
  else if (preface === "mutated") head.push(mutate(rng, PREFACE, 2));
  else if (preface === "truncated") head.push(PREFACE.subarray(0, rng.below(PREFACE.length)));
  if (preface !== "valid") b.framed = false;
  if (tame || rng.chance(0.9)) {
    const entries: Array<[number, number]> = rng.chance(0.7)
      ? []
      : [tame ? validSetting(rng) : [rng.int(1, 6), rng.edgyU32()]];
    head.push(rawFrame(T.SETTINGS, 0, 0, settingsPayload(entries)));
    b.what.push(`SETTINGS ${JSON.stringify(entries)}`);
  }
  if (rng.chance(0.5)) b.frames.push(rawFrame(T.SETTINGS, 1, 0)); // ACK the server's
  for (let n = rng.int(1, 12); n > 0; n--) addFrame(b);
  const conforming = tame && rng.chance(0.5);
  if (tame && !conforming) {
    b.tame = false;
    addFrame(b);
  }
  let body = concat(...b.frames);
  if (!tame && rng.chance(0.15)) {
    body = mutate(rng, body, 6);
    b.what.push("(then the frames were mutated)");
    b.framed = false;
  }
  return {
    bytes: concat(...head, body),
    framed: b.framed,
    conforming,
    what: [
      `${conforming ? "conforming, " : tame ? "tame but the last frame, " : ""}preface ${preface}`,
      ...b.what,
    ],
  };
}
