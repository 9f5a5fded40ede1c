import assert from "node:assert/strict";
import { EtcdErrors } from "../errors.ts";
import { createLogger } from "../log.ts";
import { InvalidMessage, InvariantViolation, ProposalDropped } from "../raft/errors.ts";
import {
  FATAL_EXIT_CODE,
  fatalExitCode,
  INVARIANT_EXIT_CODE,
  isClientRejection,
  isRefusedPeerInput,
  logFatal,
} from "./fatal.ts";

Deno.test("fatal: refused peer input, client rejections and invariants are told apart", () => {
  const invariant = new InvariantViolation("raft: entry 1 conflicts with committed entry");
  assert.equal(isRefusedPeerInput(new InvalidMessage("local message")), true);
  assert.equal(isRefusedPeerInput(new ProposalDropped()), true);
  assert.equal(isRefusedPeerInput(invariant), false);
  assert.equal(isRefusedPeerInput(new TypeError("x is undefined")), false);
  assert.equal(isClientRejection(EtcdErrors.leaseNotFound()), true);
  assert.equal(isClientRejection(invariant), false);
  assert.equal(isClientRejection(new Error("cannot apply")), false);
  assert.equal(fatalExitCode(invariant), INVARIANT_EXIT_CODE);
  assert.equal(INVARIANT_EXIT_CODE, 2, "as a Go panic exits");
  assert.equal(fatalExitCode(new Error("fsync failed")), FATAL_EXIT_CODE);
});

Deno.test("fatal: the log line names the invariant, or the failure and where it happened", () => {
  const lines: string[] = [];
  const log = createLogger("info", { writer: (l) => lines.push(l) });
  logFatal(
    log,
    "stepping a peer message",
    new InvariantViolation("raft: commit 9 is out of range"),
  );
  logFatal(log, "raft loop", new Error("fsync: input/output error"));
  const [a, b] = lines.map((l) => JSON.parse(l));
  assert.equal(a.level, "error");
  assert.equal(a.msg, "raft: commit 9 is out of range; stopping the member");
  assert.equal(a.invariant, "raft: commit 9 is out of range");
  assert.equal(a.during, "stepping a peer message");
  assert.equal(b.msg, "fatal error in raft loop; stopping the member");
  assert.equal(b.error, "fsync: input/output error");
  assert.match(b.stack, /Error: fsync/);
});
