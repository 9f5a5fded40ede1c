/**
 * cairn's pure Raft consensus core: import from here.
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export { decodeConfChange, encodeConfChange } from "./confchange.ts";
export { MemoryStorage } from "./storage.ts";
export { type RaftConfig, RawNode } from "./raw_node.ts";
