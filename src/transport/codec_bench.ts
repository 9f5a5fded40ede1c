/**
 * Hand-written codec vs the generated (reflective) protobuf code on an
 * append message of 100 entries of 128 bytes: `deno bench -A src/transport/codec_bench.ts`.
 * The generated path includes converting to and from src/raft's Message,
 * which a transport built on it would have to do as well.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  RaftBatchSchema,
  type RaftEntryType,
  type RaftMessage,
  type RaftMessageType,
} from "../gen/cairn/raft_pb.ts";
import { type EntryType, type Message, MessageType, newMessage } from "../raft/types.ts";
import { decodeBatch, encodeBatch } from "./codec.ts";

const msg = newMessage({
  type: MessageType.App,
  to: 0x8e9e05c52164694dn,
  from: 0xfd422379fda50e48n,
  term: 5,
  logTerm: 5,
  index: 120_000,
  commit: 119_990,
  entries: Array.from({ length: 100 }, (_, i) => ({
    term: 5,
    index: 120_001 + i,
    type: 0,
    data: new Uint8Array(128).fill(i),
  })),
});
const batch = [msg];

function toGen(m: Message): RaftMessage {
  return create(RaftBatchSchema.field.messages.message!, {
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
  }) as RaftMessage;
}

function fromGen(g: RaftMessage): Message {
  return newMessage({
    type: g.type as number as MessageType,
    to: g.to,
    from: g.from,
    term: Number(g.term),
    logTerm: Number(g.logTerm),
    index: Number(g.index),
    entries: g.entries.map((e) => ({
      term: Number(e.term),
      index: Number(e.index),
      type: e.type as number as EntryType,
      data: e.data,
    })),
    commit: Number(g.commit),
    reject: g.reject,
    rejectHint: Number(g.rejectHint),
    context: g.context,
  });
}

const handBytes = encodeBatch(batch);
const genBytes = toBinary(RaftBatchSchema, create(RaftBatchSchema, { messages: batch.map(toGen) }));

Deno.bench("encode: hand-written", { group: "encode", baseline: true }, () => {
  encodeBatch(batch);
});
Deno.bench("encode: @bufbuild/protobuf", { group: "encode" }, () => {
  toBinary(RaftBatchSchema, create(RaftBatchSchema, { messages: batch.map(toGen) }));
});
Deno.bench("decode: hand-written", { group: "decode", baseline: true }, () => {
  decodeBatch(handBytes);
});
Deno.bench("decode: @bufbuild/protobuf", { group: "decode" }, () => {
  fromBinary(RaftBatchSchema, genBytes).messages.map(fromGen);
});
