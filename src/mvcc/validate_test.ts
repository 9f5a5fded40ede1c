import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import { CompareSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { cmp, delReq, op, putReq, rangeReq, txnReq } from "./test_helpers.ts";
import { validateDeleteRange, validatePut, validateRange, validateTxn } from "./validate.ts";

function throwsEtcd(fn: () => unknown, factory: () => Error): void {
  assert.throws(fn, (err: unknown) => isEtcdError(err, factory as never));
}

Deno.test("range/put/delete validation", () => {
  throwsEtcd(() => validateRange(rangeReq("")), EtcdErrors.emptyKey);
  throwsEtcd(
    () => validateRange(rangeReq("a", "", { sortOrder: 3 as never })),
    EtcdErrors.invalidSortOption,
  );
  throwsEtcd(
    () => validateRange(rangeReq("a", "", { sortTarget: 9 as never })),
    EtcdErrors.invalidSortOption,
  );
  validateRange(rangeReq("a", "b", { sortOrder: 2, sortTarget: 4 }));
  throwsEtcd(() => validatePut(putReq("")), EtcdErrors.emptyKey);
  throwsEtcd(() => validatePut(putReq("k", "v", { ignoreValue: true })), EtcdErrors.valueProvided);
  throwsEtcd(
    () => validatePut(putReq("k", "", { ignoreLease: true, lease: 1n })),
    EtcdErrors.leaseProvided,
  );
  validatePut(putReq("k", "", { ignoreValue: true, ignoreLease: true }));
  throwsEtcd(() => validateDeleteRange(delReq("")), EtcdErrors.emptyKey);
  validateDeleteRange(delReq("a", "\0"));
});

Deno.test("txn: too many ops, empty keys, empty ops, nested checks", () => {
  const ops = (n: number) => Array.from({ length: n }, (_, i) => op.range(`k${i}`));
  validateTxn(txnReq([], ops(128)));
  throwsEtcd(() => validateTxn(txnReq([], ops(129))), EtcdErrors.tooManyOps);
  throwsEtcd(() => validateTxn(txnReq([], [], ops(3)), 2), EtcdErrors.tooManyOps);
  const cmps = Array.from({ length: 5 }, () => cmp("k", "version", "=", 0n));
  throwsEtcd(() => validateTxn(txnReq(cmps, []), 4), EtcdErrors.tooManyOps);
  throwsEtcd(() => validateTxn(txnReq([create(CompareSchema, {})], [])), EtcdErrors.emptyKey);
  throwsEtcd(() => validateTxn(txnReq([], [op.empty()])), EtcdErrors.keyNotFound);
  throwsEtcd(() => validateTxn(txnReq([], [op.put("")])), EtcdErrors.emptyKey);
  throwsEtcd(() => validateTxn(txnReq([], [], [op.del("")])), EtcdErrors.emptyKey);
  throwsEtcd(
    () => validateTxn(txnReq([], [op.range("a", "", { sortOrder: 7 as never })])),
    EtcdErrors.invalidSortOption,
  );
  throwsEtcd(
    () => validateTxn(txnReq([], [op.txn(txnReq([], [op.put("k", "v", { ignoreValue: true })]))])),
    EtcdErrors.valueProvided,
  );
  // Nested txns get the budget left by their parent: 2 ops at top leave 1.
  const nested = op.txn(txnReq([], [op.put("x"), op.put("y")]));
  throwsEtcd(() => validateTxn(txnReq([], [op.range("a"), nested]), 3), EtcdErrors.tooManyOps);
  validateTxn(txnReq([], [op.range("a"), nested]), 4);
});

Deno.test("txn duplicate keys: puts and deletes", () => {
  const dup = (success: Parameters<typeof txnReq>[1], failure: Parameters<typeof txnReq>[2] = []) =>
    throwsEtcd(() => validateTxn(txnReq([], success, failure)), EtcdErrors.duplicateKey);
  const ok = (success: Parameters<typeof txnReq>[1], failure: Parameters<typeof txnReq>[2] = []) =>
    validateTxn(txnReq([], success, failure));

  dup([op.put("a"), op.put("a")]);
  dup([op.put("a"), op.del("a")]);
  dup([op.del("a", "c"), op.put("b")]);
  dup([op.put("b"), op.del("a", "c")]);
  ok([op.put("c"), op.del("a", "c")]); // range end is exclusive
  ok([op.put("a"), op.put("b")]);
  ok([op.del("a"), op.del("a")]); // deletes may overlap each other
  ok([op.put("a"), op.range("a")]);
  ok([op.put("a")], [op.put("a")]); // different branches of the same txn
  // etcd quirk: a from-key delete ("\0" end) is not an interval it checks.
  ok([op.del("a", "\0"), op.put("b")]);
  dup([op.del("a", ""), op.put("a")]);
});

Deno.test("txn duplicate keys across nested txns", () => {
  const t = (s: Parameters<typeof txnReq>[1], f: Parameters<typeof txnReq>[2] = []) =>
    op.txn(txnReq([], s, f));
  const dup = (ops: Parameters<typeof txnReq>[1]) =>
    throwsEtcd(() => validateTxn(txnReq([], ops)), EtcdErrors.duplicateKey);
  const ok = (ops: Parameters<typeof txnReq>[1]) => validateTxn(txnReq([], ops));

  dup([op.put("a"), t([op.put("a")])]);
  dup([op.del("a", "c"), t([op.put("b")])]);
  dup([t([op.put("a")]), t([op.put("a")])]);
  dup([t([op.del("a")]), op.put("a")]); // child deletes reach the parent's puts
  ok([t([op.put("a")], [op.put("a")])]); // then/else of one nested txn
  dup([t([op.put("b")], [op.put("a")]), t([op.put("a")])]);
  dup([t([op.put("b")]), t([], [op.put("b")])]);
  ok([t([op.del("a")]), t([op.del("a")])]);
  ok([t([op.put("a")]), op.put("b")]);
  // Deep nesting.
  dup([op.put("z"), t([t([t([op.put("z")])])])]);
  ok([op.put("y"), t([t([t([op.put("z")])])])]);
});
