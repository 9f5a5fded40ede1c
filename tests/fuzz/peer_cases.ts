/**
 * One fuzz case of the peer-port fuzzer: a POST to `/raft/stream` or
 * `/raft/snapshot` with the sender headers right or wrong, and a body of
 * frames that are random, valid, mutated, or lie about their length.
 *
 * Authenticated messages that decode are passed through a guard like the
 * RPC fuzzer's: a member of the cluster is trusted (Raft is not Byzantine
 * tolerant, in etcd as here), so a forged leader at a higher term, a
 * snapshot it installs or garbage it proposes would legally change or stop
 * the member. The guard keeps terms at or below the member's and empties
 * proposed entries; what is left must never stop the member.
 *
 * @module
 */
import { type Entry, EntryType, type Message, MessageType } from "../../src/raft/types.ts";
import {
  CodecError,
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeMessage,
} from "../../src/transport/codec.ts";
import type { H2Call } from "./h2_calls.ts";
import { concat, mutate } from "./mutate.ts";
import type { Rng } from "./rng.ts";

/** Who the member is, and who the fuzzer may speak as. */
export interface PeerIdentity {
  clusterId: bigint;
  /** The member under test. */
  self: bigint;
  /** A learner added to the cluster for the fuzzer (nothing listens at its URL). */
  sender: bigint;
  /** The member's current term: authenticated messages never exceed it. */
  term: number;
}

/** One case, ready to send. */
export interface PeerCase {
  call: H2Call;
  /** Headers name a member of this cluster, addressed to this member. */
  authenticated: boolean;
  /** Headers name the member itself as the sender (etcd answers 404: it is not its own peer). */
  fromSelf: boolean;
  what: string;
}

const hex = (id: bigint) => BigInt.asUintN(64, id).toString(16);

/** Raft message types a peer may send (local-only ones are refused by the receiver anyway). */
const PEER_TYPES = [
  MessageType.Prop,
  MessageType.App,
  MessageType.AppResp,
  MessageType.Vote,
  MessageType.VoteResp,
  MessageType.Heartbeat,
  MessageType.HeartbeatResp,
  MessageType.TransferLeader,
  MessageType.TimeoutNow,
  MessageType.ReadIndex,
  MessageType.ReadIndexResp,
  MessageType.PreVote,
  MessageType.PreVoteResp,
];

function randomEntry(rng: Rng, index: number, term: number): Entry {
  return {
    term,
    index,
    type: rng.chance(0.9) ? EntryType.Normal : EntryType.ConfChange,
    data: rng.bytes(rng.size(64)),
  };
}

function randomMessage(rng: Rng, id: PeerIdentity, type?: MessageType): Message {
  const t = type ?? rng.pick(PEER_TYPES);
  const index = rng.weighted([[50, rng.int(0, 20)], [30, rng.int(0, 2000)], [20, rng.u32()]]);
  const term = rng.int(0, id.term);
  const entries: Entry[] = [];
  if (t === MessageType.App || t === MessageType.Prop) {
    for (let n = rng.int(0, 3); n > 0; n--) {
      entries.push(randomEntry(rng, index + entries.length + 1, term));
    }
  }
  return {
    type: t,
    to: rng.chance(0.95) ? id.self : BigInt(rng.u32()),
    from: rng.chance(0.95) ? id.sender : id.self,
    term,
    logTerm: rng.int(0, id.term),
    index,
    entries,
    commit: rng.weighted([[60, rng.int(0, 20)], [40, rng.u32()]]),
    reject: rng.chance(0.2),
    rejectHint: rng.int(0, 100),
    context: rng.chance(0.7) ? new Uint8Array(0) : rng.bytes(rng.size(16)),
  };
}

/**
 * Takes the trusted-peer powers out of a decoded message, in place: no
 * term above the member's (no forged leader or election), no proposed
 * data (it would be committed and applied on every member).
 */
function disarm(m: Message, id: PeerIdentity): boolean {
  let changed = false;
  if (m.term > id.term) {
    m.term = id.term;
    changed = true;
  }
  if (m.logTerm > id.term) {
    m.logTerm = id.term;
    changed = true;
  }
  if (
    m.entries.some((e) => e.term > id.term || (m.type === MessageType.Prop && e.data.length > 0))
  ) {
    m.entries = m.entries.map((e) => ({
      ...e,
      term: Math.min(e.term, id.term),
      data: m.type === MessageType.Prop ? new Uint8Array(0) : e.data,
      type: m.type === MessageType.Prop ? EntryType.Normal : e.type,
    }));
    changed = true;
  }
  if (m.snapshot && m.snapshot.meta.term > id.term) {
    m.snapshot.meta.term = id.term;
    changed = true;
  }
  return changed;
}

/** The batch to send for `bytes`: itself unless it decodes to messages that need disarming. */
function guardBatch(bytes: Uint8Array, id: PeerIdentity): Uint8Array {
  let msgs: Message[];
  try {
    msgs = decodeBatch(bytes);
  } catch (err) {
    if (err instanceof CodecError) return bytes;
    throw err;
  }
  let changed = false;
  for (const m of msgs) changed = disarm(m, id) || changed;
  return changed ? encodeBatch(msgs) : bytes;
}

function guardMessage(bytes: Uint8Array, id: PeerIdentity): Uint8Array {
  let m: Message;
  try {
    m = decodeMessage(bytes);
  } catch (err) {
    if (err instanceof CodecError) return bytes;
    throw err;
  }
  return disarm(m, id) ? encodeMessage(m) : bytes;
}

/** `[length u32 BE][body]`, the length sometimes a lie. */
function frame(rng: Rng, body: Uint8Array, honest: boolean): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  const len = honest ? body.length : rng.pick([body.length + rng.int(1, 100), rng.edgyU32(), 0]);
  new DataView(out.buffer).setUint32(0, len >>> 0);
  out.set(body, 4);
  return out;
}

/** Request headers: right, or wrong in one of the ways an outsider gets them wrong. */
function peerHeaders(
  rng: Rng,
  path: string,
  id: PeerIdentity,
): { headers: [string, string][]; ok: boolean; note: string; self: boolean } {
  const headers: [string, string][] = [
    [":method", rng.chance(0.97) ? "POST" : "GET"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", "application/octet-stream"],
  ];
  let cluster = hex(id.clusterId);
  let from = hex(id.sender);
  let to = hex(id.self);
  const note = rng.weighted(
    [
      [55, "authenticated"],
      [8, "other cluster"],
      [8, "other receiver"],
      [8, "unknown sender"],
      [5, "sender is the member itself"],
      [8, "malformed id"],
      [8, "missing header"],
    ] as const,
  );
  if (note === "other cluster") cluster = hex(id.clusterId ^ BigInt(rng.int(1, 0xffff)));
  if (note === "other receiver") to = hex(id.self ^ BigInt(rng.int(1, 0xffff)));
  if (note === "unknown sender") from = hex(BigInt(rng.u32()) * 7919n + 1n);
  if (note === "sender is the member itself") from = hex(id.self);
  if (note === "malformed id") {
    const bad = rng.pick(["", "zz", "-1", "0x10", "1".repeat(17), " 12", "12 "]);
    const which = rng.below(3);
    if (which === 0) cluster = bad;
    else if (which === 1) from = bad;
    else to = bad;
  }
  const fields: [string, string][] = [
    ["x-cairn-cluster-id", cluster],
    ["x-cairn-from", from],
    ["x-cairn-to", to],
  ];
  if (note === "missing header") fields.splice(rng.below(3), 1);
  headers.push(...fields);
  // A member's own id is in the configuration, but no member sends to itself.
  const ok = note === "authenticated" && headers[0][1] === "POST";
  return { headers, ok, note, self: note === "sender is the member itself" };
}

/** Builds case `rng` against the member `id`. */
export function peerCase(rng: Rng, id: PeerIdentity): PeerCase {
  const snapshot = rng.chance(0.25);
  const path = snapshot ? "/raft/snapshot" : "/raft/stream";
  const { headers, ok, note, self } = peerHeaders(rng, path, id);
  // Bodies that may reach Raft are disarmed: also those of a sender claiming to be the member.
  const guard = ok || self;
  const parts: Uint8Array[] = [];
  const kinds: string[] = [];
  if (!snapshot) {
    for (let n = rng.int(1, 4); n > 0; n--) {
      const kind = rng.weighted(
        [[15, "random"], [35, "valid"], [40, "mutated"], [10, "empty"]] as const,
      );
      kinds.push(kind);
      const msgs = Array.from({ length: rng.int(1, 4) }, () => randomMessage(rng, id));
      let body = kind === "random"
        ? rng.bytes(rng.size(300))
        : kind === "empty"
        ? new Uint8Array(0)
        : encodeBatch(msgs);
      if (kind === "mutated") body = mutate(rng, body);
      if (guard) body = guardBatch(body, id);
      const honest = rng.chance(0.9);
      if (!honest) kinds.push("length lie");
      parts.push(frame(rng, body, honest));
    }
  } else {
    const data = rng.bytes(rng.size(2000));
    const m = randomMessage(rng, id, MessageType.Snap);
    m.snapshot = {
      meta: {
        term: rng.int(0, id.term),
        index: rng.int(0, 5000),
        confState: { voters: [id.self], learners: [id.sender] },
      },
      data: new Uint8Array(0),
    };
    let body = encodeMessage(m);
    const kind = rng.weighted([[40, "valid"], [45, "mutated"], [15, "random"]] as const);
    if (kind === "mutated") body = mutate(rng, body);
    if (kind === "random") body = rng.bytes(rng.size(200));
    if (guard) body = guardMessage(body, id);
    kinds.push(`snapshot message ${kind}`);
    const honest = rng.chance(0.9);
    parts.push(frame(rng, body, honest), data);
    const crc = rng.chance(0.7) ? crc32c(data) : rng.u32();
    const size = rng.weighted([[70, data.length], [10, data.length + rng.int(1, 10)], [
      10,
      rng.edgyU32(),
    ], [10, -1]]);
    headers.push(
      [
        "x-cairn-snapshot-size",
        rng.chance(0.95) ? String(size) : rng.pick(["", "abc", "1e3", "99999999999999999999"]),
      ],
      ["x-cairn-snapshot-crc32c", String(crc)],
    );
    kinds.push(`size ${size} of ${data.length}, crc ${crc === crc32c(data) ? "right" : "wrong"}`);
  }
  const body = concat(...parts);
  // Cut the body into DATA frames at random points (splitters must join them).
  const chunks: Uint8Array[] = [];
  for (let p = 0; p < body.length;) {
    const n = rng.chance(0.7) ? body.length - p : rng.int(1, body.length - p);
    chunks.push(body.subarray(p, p + n));
    p += n;
  }
  return {
    call: { headers, body: chunks, end: true, streaming: false },
    authenticated: ok,
    fromSelf: self,
    what: `${path} ${note}: ${kinds.join(", ")} (${body.length} bytes)`,
  };
}

/** CRC-32C (Castagnoli), bitwise: independent of the code under test. */
function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
