/**
 * Free loopback TCP ports for test members.
 *
 * Ports come from below the kernel's ephemeral range (ip_local_port_range,
 * 32768-60999 by default): a port handed out there (binding port 0) was
 * free when we closed our listener, but any outgoing connection of the
 * suite's other test files, running at the same time in other processes,
 * could take it as its local port before the member bound it. That
 * happened under CI's load ("Address already in use" from a member of a
 * 3-member cluster). Below the range only listeners compete, and each
 * pick is random over ~20,000 ports and checked by binding it.
 *
 * A port handed out once is never handed out again by this process, so two
 * members started in the same test file cannot collide. etcd's well-known
 * ports are refused outright so a test can never touch a real etcd on
 * this machine.
 */

const RESERVED = new Set([2379, 2380]);
const handedOut = new Set<number>();
/** Lowest port picked: above the well-known and most registered service ports. */
const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralStart(): number {
  try {
    const text = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const first = Number(text.trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > LOWEST + 1000) return first;
  } catch {
    // Not Linux, or no /proc: the usual default.
  }
  return 32768;
}

const EPHEMERAL_START = ephemeralStart();

/** Whether `port` can be bound on 127.0.0.1 right now. */
function bindable(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** Returns a loopback port that was free a moment ago and is not 2379/2380. */
export function freePort(): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (EPHEMERAL_START - LOWEST));
    if (RESERVED.has(port) || handedOut.has(port) || !bindable(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error("freePort: could not find an unused loopback port");
}
