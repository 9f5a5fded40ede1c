/**
 * Encoding of a {@link ConfChange} into the data of a ConfChange log entry.
 * Layout: `[type u8][nodeId u64 big-endian][context bytes...]`. It is cairn's
 * own format (not etcd's protobuf) because the log is private to cairn.
 *
 * @module
 */

import { InvariantViolation } from "./errors.ts";
import { type ConfChange, ConfChangeType } from "./types.ts";

/** Serializes a conf change for an entry of type `EntryType.ConfChange`. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out = new Uint8Array(9 + cc.context.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, cc.type);
  view.setBigUint64(1, BigInt.asUintN(64, cc.nodeId));
  out.set(cc.context, 9);
  return out;
}

/**
 * Parses the data of a ConfChange entry. Such data only ever comes from a
 * log entry (committed, or replayed from the WAL), so a truncated one or an
 * unknown change type throws InvariantViolation: silently skipping it would
 * let members' configurations diverge.
 */
export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 9) {
    throw new InvariantViolation(`raft: conf change entry too short (${data.length} bytes)`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = view.getUint8(0);
  if (ConfChangeType[type] === undefined) {
    throw new InvariantViolation(`raft: unknown conf change type ${type} in a log entry`);
  }
  return {
    type: type as ConfChangeType,
    nodeId: view.getBigUint64(1),
    context: data.slice(9),
  };
}
