/**
 * Faults below the member processes: pausing every process of a namespace
 * (SIGSTOP/SIGCONT) and cutting single links between two namespaces of a
 * NetLab, for partitions the lab's own `isolate` (one node against all)
 * cannot make, such as a bridge (a–b and b–c up, a–c down).
 *
 * A link is cut by pinning, in both namespaces, the other node's peer
 * address to a MAC address nobody has. Frames still leave, the bridge floods
 * them, and no interface accepts them: packets vanish without an error, as in
 * a real partition, while every other path stays as it was. Deleting the
 * pinned entries lets ARP find the real address again.
 *
 * @module
 */

import type { LabNode } from "../harness/netns.ts";

/** A locally administered unicast MAC no interface of the lab uses. */
const NOWHERE_MAC = "02:00:00:00:de:ad";

/** Runs `ip <args>`; returns exit code and stderr. */
function ip(args: string[]): { code: number; stderr: string } {
  try {
    const out = new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).outputSync();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
  } catch (err) {
    return { code: -1, stderr: String(err) };
  }
}

/** Runs `ip <args>` and throws unless it exits 0. */
function ipOk(args: string[]): void {
  const res = ip(args);
  if (res.code !== 0) throw new Error(`ip ${args.join(" ")} failed (${res.code}): ${res.stderr}`);
}

/** Drops all peer traffic between `a` and `b`, in both directions. */
export function cutLink(a: LabNode, b: LabNode): void {
  for (const [from, to] of [[a, b], [b, a]]) {
    ipOk([
      "-n",
      from.ns,
      "neigh",
      "replace",
      to.peerAddr,
      "lladdr",
      NOWHERE_MAC,
      "dev",
      "peer0",
      "nud",
      "permanent",
    ]);
  }
}

/** Undoes `cutLink` (no error when the link was not cut). */
export function restoreLink(a: LabNode, b: LabNode): void {
  for (const [from, to] of [[a, b], [b, a]]) {
    ip(["-n", from.ns, "neigh", "del", to.peerAddr, "dev", "peer0"]);
  }
}

/** Process ids running in a namespace (`ip netns pids`). */
export function namespacePids(ns: string): number[] {
  try {
    const out = new Deno.Command("ip", {
      args: ["netns", "pids", ns],
      stdout: "piped",
      stderr: "null",
    })
      .outputSync();
    return new TextDecoder().decode(out.stdout).split(/\s+/).filter((s) => /^\d+$/.test(s)).map(
      Number,
    );
  } catch {
    return [];
  }
}

/** Sends `signal` to every process of a namespace; returns how many got it. */
export function signalNamespace(ns: string, signal: "SIGSTOP" | "SIGCONT"): number {
  let n = 0;
  for (const pid of namespacePids(ns)) {
    try {
      Deno.kill(pid, signal);
      n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}
