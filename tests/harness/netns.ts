/**
 * A small private network of Linux network namespaces for partition tests.
 *
 * Each node gets its own namespace with two links:
 *
 * - a **peer link** (`peer0`) plugged into a bridge in the root namespace.
 *   The bridge has no address of its own, so peer traffic stays between the
 *   nodes. Setting a node's bridge port down cuts it off from every other node
 *   while its addresses and routes stay up: packets vanish, as in a real
 *   partition, instead of being refused.
 * - a **client link** (`cli0`), a point-to-point veth pair to the root
 *   namespace, so the test process (and etcdctl) can reach every node's client
 *   port even while the node is partitioned. There is no forwarding between
 *   these links (the nodes have no default route), so a partitioned node
 *   cannot reach its peers through them either.
 *
 * Addresses come from one 10.213.X.0/24 that no interface or route of this
 * machine uses yet; X starts from the pid. Every name carries the pid and X,
 * so parallel runs do not collide, nor do labs of one process (`deno test
 * --parallel` runs test modules as workers of one process): creating the
 * bridge, whose name holds both, reserves X atomically. Everything created
 * is removed by `destroy()`, when the module unloads, and by a watchdog
 * shell if this process dies without either (SIGINT under `deno test`,
 * SIGKILL).
 *
 * Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; `netnsUnavailable()`
 * says why not before anything is created.
 */

/** Ports every node uses on its own addresses (namespaces do not share ports). */
export const CLIENT_PORT = 12379;
/** See CLIENT_PORT. */
export const PEER_PORT = 12380;

/** One namespace of the lab and how to reach it. */
export interface LabNode {
  /** Index in the lab, 0-based. */
  readonly index: number;
  /** Namespace name, `cairnp<pid><X as 3 digits><letter>`. */
  readonly ns: string;
  /** Address of the node's client link, reachable from the root namespace. */
  readonly clientAddr: string;
  /** Address of the node's peer link, reachable only from the other nodes. */
  readonly peerAddr: string;
  /** Root-namespace end of the peer link (a bridge port); down = partitioned. */
  readonly peerLink: string;
  /** Root-namespace end of the client link. */
  readonly clientLink: string;
}

/** Output of one `ip` invocation. */
interface IpResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ip <args>` synchronously (it takes milliseconds; cleanup must work in `unload`). */
function ip(args: string[]): IpResult {
  try {
    const out = new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).outputSync();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (err) {
    return { code: -1, stdout: "", stderr: String(err) };
  }
}

/** Runs `ip <args>` and throws with its stderr unless it exits 0. */
function ipOk(args: string[]): string {
  const res = ip(args);
  if (res.code !== 0) throw new Error(`ip ${args.join(" ")} failed (${res.code}): ${res.stderr}`);
  return res.stdout;
}

/**
 * Why namespace labs cannot be built here, or undefined when they can. Creates
 * and deletes a throwaway namespace and bridge: the only reliable test for
 * the needed privileges.
 */
export function netnsUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return "skipping: network namespaces need Linux";
  // Random part: test modules probing at once in one process must not collide.
  const probe = `cq${Deno.pid}${Math.floor(Math.random() * 1000)}`;
  const add = ip(["netns", "add", probe]);
  if (add.code !== 0) {
    return `skipping: cannot create a network namespace (need root / CAP_NET_ADMIN): ` +
      (add.stderr.trim() || `ip exited ${add.code}`);
  }
  try {
    const lo = ip(["netns", "exec", probe, "ip", "link", "set", "lo", "up"]);
    if (lo.code !== 0) return `skipping: cannot enter a network namespace: ${lo.stderr.trim()}`;
    const br = ip(["link", "add", probe, "type", "bridge"]);
    if (br.code !== 0) return `skipping: cannot create a bridge: ${br.stderr.trim()}`;
    ip(["link", "del", probe]);
    return undefined;
  } finally {
    ip(["netns", "del", probe]);
  }
}

/** Picks X not in `skip` so that 10.213.X.0/24 holds no address or route of the root namespace. */
function freeSubnet(skip: ReadonlySet<number>): number {
  for (let i = 0; i < 254; i++) {
    const x = ((Deno.pid + i) % 254) + 1;
    if (skip.has(x)) continue;
    const prefix = `10.213.${x}.0/24`;
    const used = ip(["-4", "-o", "addr", "show", "to", prefix]).stdout.trim() !== "" ||
      ip(["-4", "route", "show", "to", "root", prefix]).stdout.trim() !== "";
    if (!used) return x;
  }
  throw new Error("netns lab: every 10.213.X.0/24 is in use");
}

/**
 * Picks a free X and creates the lab's bridge, `cpb<pid><X as 3 digits>`;
 * the creation fails if another lab of this process took X first, and the
 * next X is tried.
 */
function reserveSubnet(): { x: number; bridge: string } {
  const skip = new Set<number>();
  for (let attempt = 0; attempt < 254; attempt++) {
    const x = freeSubnet(skip);
    const bridge = `cpb${Deno.pid}${String(x).padStart(3, "0")}`;
    if (ip(["link", "add", bridge, "type", "bridge"]).code === 0) return { x, bridge };
    skip.add(x);
  }
  throw new Error("netns lab: could not reserve a 10.213.X.0/24");
}

/** Cleanups of live labs (and of what runs inside them), run last-first at exit. */
const exitHooks: (() => void)[] = [];

/** Registers a synchronous cleanup to run at unload; returns its remover. */
export function onExit(hook: () => void): () => void {
  exitHooks.push(hook);
  return () => {
    const i = exitHooks.indexOf(hook);
    if (i >= 0) exitHooks.splice(i, 1);
  };
}

function runExitHooks(): void {
  while (exitHooks.length > 0) {
    try {
      exitHooks.pop()!();
    } catch {
      // keep going: the next hook may free something else
    }
  }
}

globalThis.addEventListener("unload", runExitHooks);

/**
 * A shell that outlives this process if it dies abruptly: Deno's test runner
 * exits on SIGINT without running `unload` handlers, and SIGKILL runs nothing
 * at all. Once the parent pid is gone (checked each second, for at most an
 * hour) it kills whatever still runs in the lab's namespaces and deletes the
 * lab's links and namespaces. Normal teardown kills it first.
 */
const WATCHDOG = `
trap '' INT TERM HUP
i=0
while [ "$i" -lt 3600 ] && kill -0 "$PARENT" 2>/dev/null; do sleep 1; i=$((i+1)); done
for ns in $NAMESPACES; do
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
done
for l in $LINKS; do ip link del "$l" 2>/dev/null; done
for ns in $NAMESPACES; do ip netns del "$ns" 2>/dev/null; done
`;

/** Starts the watchdog for a lab's names; returns the process, or undefined without `sh`. */
function startWatchdog(namespaces: string[], links: string[]): Deno.ChildProcess | undefined {
  try {
    const child = new Deno.Command("sh", {
      args: ["-c", WATCHDOG],
      env: { PARENT: String(Deno.pid), NAMESPACES: namespaces.join(" "), LINKS: links.join(" ") },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
    return child;
  } catch {
    return undefined;
  }
}

/** A set of namespaces joined by a bridge; see the module comment. */
export class NetLab {
  /** The nodes, in creation order. */
  readonly nodes: readonly LabNode[];
  /** The bridge joining the peer links. */
  readonly bridge: string;
  #destroyed = false;
  readonly #removeHook: () => void;
  readonly #watchdog: Deno.ChildProcess | undefined;

  private constructor(nodes: LabNode[], bridge: string) {
    this.nodes = nodes;
    this.bridge = bridge;
    this.#removeHook = onExit(() => this.destroy());
    this.#watchdog = startWatchdog(
      nodes.map((n) => n.ns),
      [...nodes.flatMap((n) => [n.peerLink, n.clientLink]), bridge],
    );
  }

  /**
   * Builds `count` (1..26) namespaces. Whatever was created is removed again
   * if a step fails.
   */
  static create(count: number): NetLab {
    if (count < 1 || count > 26) throw new RangeError(`netns lab: bad node count ${count}`);
    const { x, bridge } = reserveSubnet();
    const tag = `${Deno.pid}${String(x).padStart(3, "0")}`;
    const nodes: LabNode[] = [];
    for (let i = 0; i < count; i++) {
      const letter = String.fromCharCode(97 + i);
      nodes.push({
        index: i,
        ns: `cairnp${tag}${letter}`,
        // Client links are /30s from the bottom of the /24, peer links a /25 at the top.
        clientAddr: `10.213.${x}.${4 * i + 2}`,
        peerAddr: `10.213.${x}.${129 + i}`,
        peerLink: `cpp${tag}${letter}`,
        clientLink: `cpc${tag}${letter}`,
      });
    }
    const lab = new NetLab(nodes, bridge);
    try {
      ipOk(["link", "set", bridge, "up"]);
      for (const node of nodes) lab.#build(node, x);
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  #build(node: LabNode, x: number): void {
    const inNs = (args: string[]) => ipOk(["-n", node.ns, ...args]);
    ipOk(["netns", "add", node.ns]);
    inNs(["link", "set", "lo", "up"]);

    ipOk(["link", "add", node.peerLink, "type", "veth", "peer", "name", "peer0", "netns", node.ns]);
    ipOk(["link", "set", node.peerLink, "master", this.bridge]);
    ipOk(["link", "set", node.peerLink, "up"]);
    inNs(["addr", "add", `${node.peerAddr}/25`, "dev", "peer0"]);
    inNs(["link", "set", "peer0", "up"]);

    const rootSide = `10.213.${x}.${4 * node.index + 1}`;
    ipOk([
      "link",
      "add",
      node.clientLink,
      "type",
      "veth",
      "peer",
      "name",
      "cli0",
      "netns",
      node.ns,
    ]);
    ipOk(["addr", "add", `${rootSide}/30`, "dev", node.clientLink]);
    ipOk(["link", "set", node.clientLink, "up"]);
    inNs(["addr", "add", `${node.clientAddr}/30`, "dev", "cli0"]);
    inNs(["link", "set", "cli0", "up"]);
  }

  /** The node at `index`, or throws. */
  node(index: number): LabNode {
    const node = this.nodes[index];
    if (!node) throw new RangeError(`netns lab: no node ${index}`);
    return node;
  }

  /** Cuts a node off from all other nodes (its client link stays up). */
  isolate(index: number): void {
    ipOk(["link", "set", this.node(index).peerLink, "down"]);
  }

  /** Undoes `isolate`. */
  heal(index: number): void {
    ipOk(["link", "set", this.node(index).peerLink, "up"]);
  }

  /** True when the node's peer link is administratively up. */
  connected(index: number): boolean {
    return /<[^>]*\bUP\b/.test(ipOk(["link", "show", this.node(index).peerLink]));
  }

  /**
   * Removes every link and namespace of the lab; idempotent and synchronous.
   * Processes still running inside a namespace keep it alive (invisibly) until
   * they exit, so stop them first.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    // Deleting one end of a veth pair deletes both.
    for (const node of this.nodes) {
      ip(["link", "del", node.peerLink]);
      ip(["link", "del", node.clientLink]);
      ip(["netns", "del", node.ns]);
    }
    ip(["link", "del", this.bridge]);
    this.#removeHook();
    try {
      this.#watchdog?.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /** Names of this lab's namespaces and links still present (for a leak check). */
  leftovers(): string[] {
    const links = ip(["-o", "link", "show"]).stdout;
    const spaces = ip(["netns", "list"]).stdout;
    const names = [this.bridge, ...this.nodes.flatMap((n) => [n.peerLink, n.clientLink])];
    const found = names.filter((n) => new RegExp(`^\\d+: ${n}[@:]`, "m").test(links));
    for (const n of this.nodes) {
      if (new RegExp(`^${n.ns}\\b`, "m").test(spaces)) found.push(n.ns);
    }
    return found;
  }
}
