/**
 * Jepsen clients: each runs random get, put and compare-and-swap operations
 * on a small, rotating set of keys through a random member, one `etcdctl`
 * process per operation (the reference client, so cairn is judged by what a
 * real etcd client sees), and records every operation with its invocation
 * and completion time.
 *
 * - get: `etcdctl get K --print-value-only` (linearizable, etcdctl's default).
 * - put: `etcdctl put K V`.
 * - cas: `etcdctl txn` comparing `value("K") = "E"` (or `version("K") = "0"`
 *   for "absent") and putting V on success.
 *
 * Outcomes: exit 0 is an answer. A write that failed is "unknown" (it may
 * still commit: a timed-out proposal, a member paused with the request in
 * its socket) unless the client certainly never sent it: etcd's Go client
 * reports "latest balancer error" only when no connection was ready before
 * the deadline, and retries a write only when it was not sent. Failed reads
 * observed nothing and are kept only as "unknown" for the counts.
 *
 * Every written value is unique (`<client>.<n>`), which is what lets the
 * checker tell a stale read from a fresh one.
 *
 * @module
 */

import { type CtlResult, etcdctl } from "../harness/etcdctl.ts";
import type { Op, Outcome } from "../lin/history.ts";
import type { Rand } from "./rand.ts";

/** Seconds etcdctl waits for an answer (`--command-timeout`; txn ignores it). */
const COMMAND_TIMEOUT_S = 3;
/** Hard bound per etcdctl process: killed after this (txn has no timeout of its own). */
const PROCESS_TIMEOUT_MS = 6_000;

/** The keys clients pick from: a few active ones, each retired after a number of ops. */
export class KeyPool {
  readonly #prefix: string;
  readonly #opsPerKey: number;
  readonly #rand: Rand;
  readonly #active: { key: string; used: number }[] = [];
  #next = 0;
  /** Every key handed out so far. */
  readonly all: string[] = [];

  /** `active` keys at a time under `prefix`, each used for `opsPerKey` ops. */
  constructor(prefix: string, active: number, opsPerKey: number, rand: Rand) {
    this.#prefix = prefix;
    this.#opsPerKey = opsPerKey;
    this.#rand = rand;
    for (let i = 0; i < active; i++) this.#active.push({ key: this.#fresh(), used: 0 });
  }

  #fresh(): string {
    const key = `${this.#prefix}${String(this.#next++).padStart(4, "0")}`;
    this.all.push(key);
    return key;
  }

  /** A key for the next op; a key past its quota is replaced by a fresh one. */
  pick(): string {
    const slot = this.#rand.pick(this.#active);
    if (++slot.used > this.#opsPerKey) {
      slot.key = this.#fresh();
      slot.used = 1;
    }
    return slot.key;
  }

  /** The key prefix (for the final range read). */
  get prefix(): string {
    return this.#prefix;
  }
}

/** Where a client sends its operations. */
export interface Target {
  /** Member name, for the record. */
  name: string;
  /** etcdctl endpoint. */
  endpoint: string;
}

/** Whether a failed etcdctl certainly never sent its request (see the module comment). */
export function neverSent(res: CtlResult): boolean {
  return /latest balancer error/.test(res.stderr);
}

/** Runs etcdctl bounded in time; a kill or spawn error becomes exit code -1. */
async function run(endpoint: string, args: string[], stdin?: string): Promise<CtlResult> {
  try {
    return await etcdctl(
      endpoint,
      [`--dial-timeout=1s`, `--command-timeout=${COMMAND_TIMEOUT_S}s`, ...args],
      { stdin, timeoutMs: PROCESS_TIMEOUT_MS },
    );
  } catch (err) {
    return { code: -1, stdout: "", stderr: String(err) };
  }
}

/** Outcome of a failed write. */
function failedWrite(res: CtlResult): Outcome {
  return neverSent(res) ? "fail" : "unknown";
}

/** Interprets `etcdctl txn` output: SUCCESS / FAILURE, or undefined if neither. */
export function parseTxn(stdout: string): boolean | undefined {
  const first = stdout.trimStart().split("\n")[0]?.trim();
  if (first === "SUCCESS") return true;
  if (first === "FAILURE") return false;
  return undefined;
}

/** The compare line of a swap expecting `expected` (null: absent). */
export function compareLine(key: string, expected: string | null): string {
  return expected === null ? `version("${key}") = "0"` : `value("${key}") = "${expected}"`;
}

/**
 * One get, recorded. `serializable` reads the member's local state instead
 * (not linearizable: only for checking that the check catches stale reads).
 */
export async function doGet(
  client: number,
  key: string,
  target: Target,
  serializable = false,
): Promise<Op> {
  const call = performance.now();
  const args = ["get", key, "--print-value-only"];
  if (serializable) args.push("--consistency=s");
  const res = await run(target.endpoint, args);
  const ret = performance.now();
  const base = { kind: "get" as const, client, key, call, via: target.name };
  if (res.code !== 0) return { ...base, ret: null, outcome: "unknown", read: null };
  const text = res.stdout.replace(/\n$/, "");
  return { ...base, ret, outcome: "ok", read: text === "" ? null : text };
}

/** One put, recorded. */
export async function doPut(
  client: number,
  key: string,
  value: string,
  target: Target,
): Promise<Op> {
  const call = performance.now();
  const res = await run(target.endpoint, ["put", key, value]);
  const ret = performance.now();
  const base = { kind: "put" as const, client, key, call, value, via: target.name };
  if (res.code === 0 && res.stdout.trim() === "OK") return { ...base, ret, outcome: "ok" };
  const outcome = failedWrite(res);
  return { ...base, ret: outcome === "fail" ? ret : null, outcome };
}

/** One compare-and-swap, recorded. */
export async function doCas(
  client: number,
  key: string,
  expected: string | null,
  value: string,
  target: Target,
): Promise<Op> {
  const call = performance.now();
  const res = await run(
    target.endpoint,
    ["txn"],
    `${compareLine(key, expected)}\n\nput ${key} ${value}\n\n\n`,
  );
  const ret = performance.now();
  const base = { kind: "cas" as const, client, key, call, expected, value, via: target.name };
  const swapped = res.code === 0 ? parseTxn(res.stdout) : undefined;
  if (swapped !== undefined) return { ...base, ret, outcome: "ok", swapped };
  const outcome = failedWrite(res);
  return { ...base, ret: outcome === "fail" ? ret : null, outcome };
}

/** How a client behaves. */
export interface ClientOptions {
  /** Client number (also the first part of its values). */
  id: number;
  /** Members to send to, one picked at random per op. */
  targets: () => Target[];
  /** Shared key pool. */
  keys: KeyPool;
  /** Its own random stream. */
  rand: Rand;
  /** Pause between ops, ms. */
  thinkMs: [number, number];
  /** Where finished ops go. */
  history: Op[];
  /** Stops issuing ops once true. */
  stopped: () => boolean;
  /** Bound on ops, whatever the time. */
  maxOps: number;
  /** Serializable instead of linearizable gets (to show the check catches stale reads). */
  serializableReads?: boolean;
}

/** Runs one client until stopped; resolves when its last op has finished. */
export async function runClient(o: ClientOptions): Promise<void> {
  // The last value this client saw per key: what its swaps expect.
  const known = new Map<string, string | null>();
  for (let n = 0; n < o.maxOps && !o.stopped(); n++) {
    const key = o.keys.pick();
    const target = o.rand.pick(o.targets());
    const r = o.rand.next();
    const value = `${o.id}.${n}`;
    let op: Op;
    if (r < 0.4) {
      op = await doGet(o.id, key, target, o.serializableReads);
      if (op.outcome === "ok" && op.kind === "get") known.set(key, op.read);
    } else if (r < 0.7) {
      op = await doPut(o.id, key, value, target);
      if (op.outcome === "ok") known.set(key, value);
    } else {
      op = await doCas(o.id, key, known.get(key) ?? null, value, target);
      if (op.outcome === "ok" && op.kind === "cas" && op.swapped) known.set(key, value);
    }
    o.history.push(op);
    const think = o.rand.between(o.thinkMs);
    await new Promise((resolve) => setTimeout(resolve, think));
  }
}

/**
 * Reads every key under `prefix` at once (one linearizable range) through
 * `target`, and records it as a read of each of `keys` (absent when missing):
 * a range is atomic, so each key's value was its value at one moment inside
 * the call. Returns no ops when the read failed.
 */
export async function finalRead(
  client: number,
  prefix: string,
  keys: readonly string[],
  target: Target,
): Promise<Op[]> {
  const call = performance.now();
  const res = await run(target.endpoint, ["get", prefix, "--prefix", "-w", "json"]);
  const ret = performance.now();
  if (res.code !== 0) return [];
  const body = JSON.parse(res.stdout) as { kvs?: { key: string; value?: string }[] };
  const values = new Map<string, string>();
  for (const kv of body.kvs ?? []) values.set(atob(kv.key), atob(kv.value ?? ""));
  return keys.map((key) => ({
    kind: "get" as const,
    client,
    key,
    call,
    ret,
    outcome: "ok" as const,
    read: values.get(key) ?? null,
    via: target.name,
  }));
}
