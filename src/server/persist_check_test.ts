import assert from "node:assert/strict";
import { InvariantViolation } from "../raft/errors.ts";
import { MemoryStorage } from "../raft/storage.ts";
import { EMPTY_BYTES, type Entry, EntryType } from "../raft/types.ts";
import { checkPersistable } from "./persist_check.ts";

const e = (index: number, term: number): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: EMPTY_BYTES,
});

/** Entries 1..5 of term 1 persisted, committed up to 3. */
function persisted(): MemoryStorage {
  const s = new MemoryStorage();
  s.append([1, 2, 3, 4, 5].map((i) => e(i, 1)));
  s.setHardState({ term: 1, vote: 0n, commit: 3 });
  return s;
}

Deno.test("persist check: appends and replacements of the uncommitted tail pass", () => {
  const s = persisted();
  checkPersistable([], s);
  checkPersistable([e(6, 1), e(7, 2)], s);
  checkPersistable([e(4, 2), e(5, 2)], s); // a new leader replaces the uncommitted tail
});

Deno.test("persist check: a gap, a committed entry replaced, or a broken run is an InvariantViolation", () => {
  const s = persisted();
  assert.throws(() => checkPersistable([e(7, 1)], s), /gap after entry 5/);
  assert.throws(
    () => checkPersistable([e(3, 2)], s),
    (err: unknown) =>
      err instanceof InvariantViolation && /replace a committed entry \[committed\(3\)\]/.test(
        err.message,
      ),
  );
  assert.throws(() => checkPersistable([e(6, 1), e(8, 1)], s), InvariantViolation);
  assert.throws(() => checkPersistable([e(6, 2), e(7, 1)], s), /cannot follow 6 \(term 2\)/);
});
