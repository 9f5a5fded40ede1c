/**
 * The replicated state as a snapshot blob (a `StateSnapshot` protobuf),
 * made in two steps so the Raft loop never serializes a large store:
 *
 * 1. {@link captureState}, on the loop, at the applied index the snapshot
 *    is for: a point-in-time view of the MVCC store (reference copies, no
 *    bytes) and the small parts (members, alarms, leases, auth) encoded.
 * 2. {@link encodeCaptured}, afterwards: the store's bytes in chunks,
 *    awaiting `pause` between chunks so writes, compactions and the Raft
 *    loop go on. The result equals the state at the captured index
 *    whatever was applied meanwhile.
 *
 * The blob is the small fields, then field 1 (`mvcc`) written by hand as
 * tag, length and the store's chunks: protobuf readers accept fields in
 * any order, and the store's bytes are never copied into one buffer just
 * to be framed.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import { STORE_CHUNK_BYTES, storeChunks } from "../mvcc/codec.ts";
import type { StoreView } from "../mvcc/view.ts";
import { varintSize, writeVarint } from "../wire/varint.ts";
import type { StateMachine } from "./apply.ts";

/** The state machine at one applied index, ready to be encoded later. */
export interface CapturedState {
  /** The MVCC store as it was. */
  view: StoreView;
  /** `StateSnapshot` without its `mvcc` field, encoded. */
  rest: Uint8Array;
}

/** Captures the state machine as it is now (cheap: call it on the Raft loop). */
export function captureState(sm: StateMachine): CapturedState {
  const rest = toBinary(
    StateSnapshotSchema,
    create(StateSnapshotSchema, {
      members: sm.membership.records(),
      removedMembers: sm.membership.removedIds(),
      alarms: sm.alarms,
      leases: sm.lessor.serialize(),
      auth: sm.auth.serialize(),
    }),
  );
  return { view: sm.store.pointInTime(), rest };
}

/**
 * Encodes a captured state as chunks whose concatenation is the snapshot
 * blob, awaiting `pause` after each store chunk (a rejecting `pause`
 * abandons the encoding).
 */
export async function encodeCaptured(
  c: CapturedState,
  pause: () => Promise<void>,
  chunkBytes = STORE_CHUNK_BYTES,
): Promise<Uint8Array[]> {
  const mvcc: Uint8Array[] = [];
  for (const chunk of storeChunks(c.view, chunkBytes)) {
    mvcc.push(chunk);
    await pause();
  }
  return frame(c.rest, mvcc);
}

/** Encodes a captured state in one go (small states, tests, the rare synchronous need). */
export function encodeCapturedSync(c: CapturedState): Uint8Array[] {
  return frame(c.rest, [...storeChunks(c.view)]);
}

/** The small fields, then field 1 (bytes, wire type 2) holding the store's chunks. */
function frame(rest: Uint8Array, mvcc: Uint8Array[]): Uint8Array[] {
  let n = 0;
  for (const m of mvcc) n += m.length;
  const head = new Uint8Array(1 + varintSize(n));
  head[0] = 0x0a;
  writeVarint(head, 1, n);
  return [rest, head, ...mvcc];
}

/** Total length of `chunks`. */
export function chunksLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}
