/**
 * Free loopback TCP ports for test members.
 *
 * The kernel picks a port when we bind port 0; we close the listener and hand
 * the number out. A port handed out once is never handed out again by this
 * process, so two members started in the same test file cannot collide even if
 * the kernel would reuse a just-closed port. etcd's well-known ports are
 * refused outright so a test can never touch a real etcd on this machine.
 */

const RESERVED = new Set([2379, 2380]);
const handedOut = new Set<number>();

/** Returns a loopback port that was free a moment ago and is not 2379/2380. */
export function freePort(): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (RESERVED.has(port) || handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error("freePort: could not find an unused loopback port");
}
