/**
 * Process helpers for the benchmark harness: find a process's descendants,
 * sum their resident memory, and end them. Linux only (reads /proc), which is
 * where the benchmark runs.
 *
 * @module
 */

/** Resident memory of a process tree, in KiB, as /proc/<pid>/status reports it. */
export interface Rss {
  /** VmRSS: everything resident (anonymous + file-backed + shared memory). */
  rssKiB: number;
  /** RssAnon: heap, stacks, JIT code: what the process itself allocated. */
  anonKiB: number;
  /** RssFile: resident pages of mapped files (etcd's bbolt mmap, binaries). */
  fileKiB: number;
  /** VmHWM: the peak VmRSS each process has had so far. */
  peakKiB: number;
  /** How many processes were summed. */
  processes: number;
}

/** Reads the parent pid from a /proc/<pid>/stat line; null when unreadable. */
export function parsePpid(stat: string): number | null {
  // The command name is in parentheses and may itself contain spaces or ')',
  // so split after the last ')': "state ppid ...".
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

/** Pids of `root` and all of its descendants (root first); [] if root is gone. */
export function treePids(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    } catch {
      continue; // exited while we were listing
    }
    const ppid = parsePpid(stat);
    if (ppid === null) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  try {
    Deno.statSync(`/proc/${root}`);
  } catch {
    return [];
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Extracts a "Name:   123 kB" field from /proc/<pid>/status text; 0 when absent. */
export function statusKiB(status: string, field: string): number {
  const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : 0;
}

/** Sums VmRSS/RssAnon/RssFile/VmHWM over `pid` and its descendants. */
export function treeRss(pid: number): Rss {
  const total: Rss = { rssKiB: 0, anonKiB: 0, fileKiB: 0, peakKiB: 0, processes: 0 };
  for (const p of treePids(pid)) {
    let status: string;
    try {
      status = Deno.readTextFileSync(`/proc/${p}/status`);
    } catch {
      continue;
    }
    total.rssKiB += statusKiB(status, "VmRSS");
    total.anonKiB += statusKiB(status, "RssAnon");
    total.fileKiB += statusKiB(status, "RssFile");
    total.peakKiB += statusKiB(status, "VmHWM");
    total.processes++;
  }
  return total;
}

/** Sends `signal` to every process in the tree, children first; ignores the already gone. */
export function signalTree(pid: number, signal: Deno.Signal): void {
  for (const p of treePids(pid).reverse()) {
    try {
      Deno.kill(p, signal);
    } catch {
      // already exited
    }
  }
}

/**
 * Ends a child and its descendants: SIGTERM, then SIGKILL if it has not
 * exited within `graceMs`. Resolves once the child has been reaped.
 */
export async function stopTree(child: Deno.ChildProcess, graceMs = 3000): Promise<void> {
  const pids = treePids(child.pid);
  signalTree(child.pid, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = child.status.then(() => true);
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), graceMs));
  const clean = await Promise.race([exited, late]);
  clearTimeout(timer);
  // Kill by the pids collected up front too: once the parent dies its
  // children are re-parented and no longer show up under it.
  for (const p of clean ? pids.slice(1) : pids) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // already exited
    }
  }
  await child.status;
}

/** Children started through {@link spawnTracked} that have not exited yet. */
const live = new Set<Deno.ChildProcess>();

/**
 * Spawns a command and remembers it until it exits, so {@link stopAll} can
 * end every server and client even when the run is aborted halfway.
 */
export function spawnTracked(command: Deno.Command): Deno.ChildProcess {
  const child = command.spawn();
  live.add(child);
  child.status.finally(() => live.delete(child));
  return child;
}

/** Stops every tracked child still running (servers, kvbench, probes). */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((c) => stopTree(c, graceMs)));
}
