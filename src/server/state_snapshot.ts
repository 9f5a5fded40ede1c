/**
 * The replicated state as a snapshot blob (a `StateSnapshot` protobuf),
 * made in two steps so the Raft loop never serializes a large store:
 *
 * 1. {@link captureState}, on the loop, at the applied index the snapshot
 *    is for: a point-in-time view of the MVCC store (reference copies, no
 *    bytes) and the small parts (members, alarms, leases, auth) encoded.
 * 2. {@link streamCaptured}, afterwards: the store's bytes in chunks,
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
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { AuthStore } from "../auth/store.ts";
import { StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import type { Lessor } from "../lease/lessor.ts";
import { encodeStoreInto, STORE_CHUNK_BYTES, storeSize, storeStream } from "../mvcc/codec.ts";
import { runSteps, runStepsPaused, type Steps } from "../mvcc/steps.ts";
import { MvccStore } from "../mvcc/store.ts";
import type { StoreView } from "../mvcc/view.ts";
import { varintSize, writeVarint } from "../wire/varint.ts";
import type { StateMachine } from "./apply.ts";
import { Membership } from "./membership.ts";

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

/** A captured state's blob as a stream: its length, then its bytes chunk by chunk. */
export interface CapturedStream {
  /** Length of the whole blob. */
  length: number;
  /** The blob's bytes; each chunk is valid until the next is asked for. */
  chunks: Iterable<Uint8Array>;
}

/**
 * The snapshot blob of a captured state as a stream (the same bytes as
 * {@link encodeCapturedSync}'s) without ever holding it whole: sized first
 * (awaiting `pause` every few thousand versions), then produced a chunk
 * of about `chunkBytes` at a time into one reused buffer as the consumer
 * asks (see src/mvcc/codec.ts storeStream).
 */
export async function streamCaptured(
  c: CapturedState,
  pause: () => Promise<void>,
  chunkBytes = STORE_CHUNK_BYTES,
): Promise<CapturedStream> {
  const n = await runStepsPaused(storeSize(c.view), pause);
  const head = new Uint8Array(c.rest.length + 1 + varintSize(n));
  head.set(c.rest, 0);
  head[c.rest.length] = 0x0a;
  writeVarint(head, c.rest.length + 1, n);
  function* chunks(): Generator<Uint8Array, void, undefined> {
    yield head;
    yield* storeStream(c.view, chunkBytes);
  }
  return { length: head.length + n, chunks: chunks() };
}

/**
 * Encodes a captured state in one go, as one blob (tests; a member streams
 * its snapshots with {@link streamCaptured}). Decoded by recover.ts
 * restoreStateSnapshot.
 */
export function encodeCapturedSync(c: CapturedState): Uint8Array {
  return runSteps(encodeSteps(c, STORE_CHUNK_BYTES));
}

/** The small fields, then field 1 (bytes, wire type 2) holding the store. */
function* encodeSteps(c: CapturedState, stepBytes: number): Steps<Uint8Array> {
  const n = yield* storeSize(c.view);
  const out = new Uint8Array(c.rest.length + 1 + varintSize(n) + n);
  out.set(c.rest, 0);
  out[c.rest.length] = 0x0a;
  const at = writeVarint(out, c.rest.length + 1, n);
  yield* encodeStoreInto(c.view, out, at, n, stepBytes);
  return out;
}

/**
 * The state machine in a snapshot blob, restored in steps that await
 * `pause` (a follower installing a leader's snapshot keeps answering its
 * leader meanwhile). Nothing of `lessor` or `auth` changes until the
 * store is decoded; then they are restored and the leases attached in one
 * go, so no reader sees one part new and another old.
 */
export async function restoreStateInSteps(
  data: Uint8Array,
  lessor: Lessor,
  auth: AuthStore,
  pause: () => Promise<void>,
): Promise<{ store: MvccStore; membership: Membership; alarms: StateMachine["alarms"] }> {
  const state = fromBinary(StateSnapshotSchema, data);
  const store = await MvccStore.restoreInSteps(state.mvcc, pause, lessor.hooks);
  lessor.restore(state.leases);
  auth.restore(state.auth);
  store.attachLeases();
  return {
    store,
    membership: Membership.fromRecords(state.members, state.removedMembers),
    alarms: state.alarms,
  };
}

/** Total length of `chunks`. */
export function chunksLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}
