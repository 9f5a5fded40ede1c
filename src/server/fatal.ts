/**
 * How a member tells an error it survives from one it must die of
 * (DESIGN.md rule 6):
 *
 * - bad input from a peer (a message Raft refuses, a proposal it drops) is
 *   dropped and the member lives;
 * - a request the state machine refuses with an etcd error is that
 *   request's answer, the same on every member;
 * - anything else thrown while stepping Raft, applying a committed entry
 *   or persisting a Ready is a broken invariant or an unexpected failure:
 *   the member's state can no longer be trusted, so it logs what broke and
 *   stops at once, acknowledging nothing more, as etcd panics (or exits
 *   with lg.Fatal).
 *
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import type { Logger } from "../log.ts";
import { InvalidMessage, InvariantViolation, ProposalDropped } from "../raft/errors.ts";

/** Exit status after a broken invariant: a Go program's on panic, which is how etcd stops. */
export const INVARIANT_EXIT_CODE = 2;
/** Exit status after any other fatal error (a failed fsync...): etcd's lg.Fatal exits 1. */
export const FATAL_EXIT_CODE = 1;

/** True for peer input Raft refused without changing state: drop it, the member lives. */
export function isRefusedPeerInput(err: unknown): boolean {
  return err instanceof InvalidMessage || err instanceof ProposalDropped;
}

/**
 * True for a refusal the state machine raised on purpose (an etcd client
 * error: lease not found, compacted, no space...): it answers the request
 * and leaves the state unchanged on every member alike.
 */
export function isClientRejection(err: unknown): boolean {
  return err instanceof ConnectError;
}

/** The exit status a fatal `err` calls for. */
export function fatalExitCode(err: unknown): number {
  return err instanceof InvariantViolation ? INVARIANT_EXIT_CODE : FATAL_EXIT_CODE;
}

/**
 * Logs a fatal error at error level: a broken invariant under its own name
 * (the message etcd would panic with), anything else as a fatal failure
 * of `where`, with the stack either way.
 */
export function logFatal(log: Logger, where: string, err: unknown): void {
  const stack = err instanceof Error ? err.stack : undefined;
  if (err instanceof InvariantViolation) {
    log.error(`${err.invariant}; stopping the member`, {
      invariant: err.invariant,
      during: where,
      stack,
    });
    return;
  }
  log.error(`fatal error in ${where}; stopping the member`, {
    error: err instanceof Error ? err.message : String(err),
    stack,
  });
}
