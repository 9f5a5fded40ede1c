import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type RaftBatch,
  RaftBatchSchema,
  type RaftEntryType,
  type RaftMessage,
  RaftMessageSchema,
  type RaftMessageType,
} from "../gen/cairn/raft_pb.ts";
import { EntryType, type Message, MessageType, newMessage } from "../raft/types.ts";
import {
  CodecError,
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeFrame,
  encodeMessage,
  FRAME_HEADER,
} from "./codec.ts";

const BIG = 0xfedcba9876543210n; // top bit set: a 10-byte varint
const MAX = 0xffffffffffffffffn;
const bytes = (s: string) => new TextEncoder().encode(s);

/** One message of every type, with every field set to something non-default. */
function everyType(): Message[] {
  const out: Message[] = [];
  for (let t = 0; t <= MessageType.PreVoteResp; t++) {
    out.push(newMessage({
      type: t,
      to: t % 2 ? BIG : 2n,
      from: t % 3 ? MAX : 1n,
      term: 7 + t,
      logTerm: 2 ** 40 + t,
      index: Number.MAX_SAFE_INTEGER - t,
      commit: 300 + t,
      reject: t % 2 === 0,
      rejectHint: 128 * t,
      context: t % 4 === 0 ? bytes(`ctx-${t}`) : new Uint8Array(0),
      entries: t === MessageType.App || t === MessageType.Prop
        ? [
          { term: 1, index: 2, type: EntryType.Normal, data: bytes("a") },
          { term: 3, index: 4, type: EntryType.ConfChange, data: new Uint8Array(300).fill(9) },
          { term: 5, index: 6, type: EntryType.Normal, data: new Uint8Array(0) }, // leader no-op
          { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) },
        ]
        : [],
      snapshot: t === MessageType.Snap
        ? {
          meta: {
            index: 2 ** 35,
            term: 9,
            confState: { voters: [1n, BIG, MAX], learners: [0x80n] },
          },
          data: new Uint8Array(0),
        }
        : undefined,
    }));
  }
  return out;
}

/** The generated (reflective) form of a message, for cross-checking the hand codec. */
function toGenerated(m: Message): RaftMessage {
  return create(RaftMessageSchema, {
    type: m.type as number as RaftMessageType,
    to: m.to,
    from: m.from,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.map((e) => ({
      term: BigInt(e.term),
      index: BigInt(e.index),
      type: e.type as number as RaftEntryType,
      data: e.data,
    })),
    commit: BigInt(m.commit),
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    context: m.context,
    snapshot: m.snapshot && {
      index: BigInt(m.snapshot.meta.index),
      term: BigInt(m.snapshot.meta.term),
      confState: m.snapshot.meta.confState,
    },
  });
}

function withoutUndefinedSnapshot(msgs: Message[]): Message[] {
  return msgs.map((m) => {
    const c = { ...m };
    if (c.snapshot === undefined) delete c.snapshot;
    return c;
  });
}

Deno.test("codec: every message type round-trips losslessly", () => {
  const msgs = everyType();
  const back = decodeBatch(encodeBatch(msgs));
  assert.deepEqual(back, withoutUndefinedSnapshot(msgs));
  for (const m of msgs) {
    const one = decodeMessage(encodeMessage(m));
    assert.deepEqual(one, withoutUndefinedSnapshot([m])[0]);
  }
  // Decoded byte fields are views of the input (zero-copy, as documented).
  const buf = encodeBatch(msgs);
  const again = decodeBatch(buf);
  assert.equal(again[MessageType.App].entries[0].data.buffer, buf.buffer);
});

Deno.test("codec: defaults round-trip, the empty batch is empty", () => {
  assert.equal(encodeBatch([]).length, 0);
  assert.deepEqual(decodeBatch(new Uint8Array(0)), []);
  const m = newMessage({ type: MessageType.Hup });
  assert.deepEqual(decodeBatch(encodeBatch([m])), [m]);
  // A snapshot with all-zero metadata keeps its presence.
  const s = newMessage({
    type: MessageType.Snap,
    snapshot: {
      meta: { index: 0, term: 0, confState: { voters: [], learners: [] } },
      data: new Uint8Array(0),
    },
  });
  assert.deepEqual(decodeBatch(encodeBatch([s])), [s]);
});

Deno.test("codec: snapshot data is never encoded", () => {
  const m = newMessage({
    type: MessageType.Snap,
    snapshot: {
      meta: { index: 5, term: 2, confState: { voters: [1n], learners: [] } },
      data: new Uint8Array(1000),
    },
  });
  assert.ok(encodeMessage(m).length < 50);
  assert.equal(decodeMessage(encodeMessage(m)).snapshot?.data.length, 0);
});

Deno.test("codec: byte-identical to the generated protobuf code, both ways", () => {
  const msgs = everyType();
  const gen: RaftBatch = create(RaftBatchSchema, { messages: msgs.map(toGenerated) });
  const ours = encodeBatch(msgs);
  assert.deepEqual(ours, toBinary(RaftBatchSchema, gen));
  assert.deepEqual(fromBinary(RaftBatchSchema, ours), gen);
});

Deno.test("codec: unknown fields are skipped and unpacked ids accepted", () => {
  const m = newMessage({ type: MessageType.App, to: BIG, from: 3n, term: 4 });
  const body = encodeMessage(m);
  // Append unknown fields 13 (varint), 14 (bytes), 15 (fixed64), 16 (fixed32, two-byte tag).
  const extra = [13 << 3, 5, (14 << 3) | 2, 2, 1, 2, (15 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8];
  extra.push(0x80 | 5, 1, 1, 2, 3, 4);
  const withExtra = new Uint8Array([...body, ...extra]);
  assert.deepEqual(decodeMessage(withExtra), m);
  // ConfState voters written one per field (unpacked): field 12 > 3 > 1 as varints.
  const snap = new Uint8Array([(1 << 3) | 0, 7, (12 << 3) | 2, 6, (3 << 3) | 2, 4, 8, 5, 8, 6]);
  assert.deepEqual(decodeMessage(snap).snapshot?.meta.confState.voters, [5n, 6n]);
});

Deno.test("codec: truncated or corrupt input throws CodecError", () => {
  const buf = encodeBatch(everyType());
  for (const cut of [1, 2, 10, buf.length - 1]) {
    assert.throws(() => decodeBatch(buf.subarray(0, cut)), CodecError, `cut at ${cut}`);
  }
  assert.throws(() => decodeBatch(new Uint8Array([0x0a, 0x05, 0x08])), CodecError);
  assert.throws(() => decodeBatch(new Uint8Array([0x0a, 0x01, 0x0f])), CodecError); // wire type 7
  assert.throws(
    () => decodeBatch(new Uint8Array([0x0a, 11, 0x10, ...new Array(10).fill(0xff)])),
    CodecError,
  );
});

Deno.test("codec: frames carry the batch length big-endian", () => {
  const msgs = everyType();
  const f = encodeFrame(msgs);
  const len = new DataView(f.buffer).getUint32(0);
  assert.equal(len, f.length - FRAME_HEADER);
  assert.deepEqual(f.subarray(FRAME_HEADER), encodeBatch(msgs));
});

Deno.test("codec: many distinct large ids (cached encodings and decodings) round-trip exactly", () => {
  // More ids than the decode cache has slots, many sharing a slot, each
  // sent twice so a stale cached value would show.
  const ids: bigint[] = [];
  for (let i = 0; i < 300; i++) {
    ids.push(0x8000_0000_0000_0000n + BigInt(i) * 0x1_0000_0001n, BigInt(i + 1) << 33n);
  }
  for (let round = 0; round < 2; round++) {
    const msgs = ids.map((id, i) =>
      newMessage({ type: MessageType.Heartbeat, from: id, to: ids[(i + 1) % ids.length] })
    );
    const back = decodeBatch(encodeBatch(msgs));
    assert.deepEqual(back.map((m) => [m.from, m.to]), msgs.map((m) => [m.from, m.to]));
  }
});
