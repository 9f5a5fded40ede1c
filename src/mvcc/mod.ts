/**
 * cairn's MVCC key-value state machine: revisions, history, range/txn
 * evaluation, compaction, HashKV and snapshots, with etcd's semantics.
 */
export { type LeaseHooks, MvccStore } from "./store.ts";
export type { KVHash } from "./hash.ts";
export {
  DEFAULT_MAX_TXN_OPS,
  validateDeleteRange,
  validatePut,
  validateRange,
  validateTxn,
} from "./validate.ts";
export { fromBinary, toBinary } from "./keys.ts";
