/**
 * Process and heap gauges, read at scrape time: the `process_*` families
 * every Prometheus client exports (as etcd's Go client does), etcd's own
 * `os_fd_used`/`os_fd_limit`, and the V8 heap as prom-client names it
 * (`nodejs_heap_size_*`), since a Deno process has no Go memstats.
 * Linux's /proc is read where it has the answer; elsewhere those series
 * are left out rather than reported wrong.
 *
 * @module
 */
import { cpuUsage } from "node:process";
import { Counter, Gauge, type Registry } from "./registry.ts";

/** Registers the process families on `reg`. */
export function registerProcessMetrics(reg: Registry): void {
  const startSeconds = Math.floor(Date.now() / 1000 - performance.now() / 1000);
  const cpu = new Counter(reg, {
    name: "process_cpu_seconds_total",
    help: "User and system CPU time spent, in seconds.",
  });
  const rss = new Gauge(reg, {
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
  });
  const vsize = new Gauge(reg, {
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
  });
  const vsizeMax = new Gauge(reg, {
    name: "process_virtual_memory_max_bytes",
    help: "Limit on the virtual memory size in bytes (2^64 - 1 when unlimited, as Go reports it).",
  });
  new Gauge(reg, {
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch, in seconds.",
    read: () => startSeconds,
  });
  const openFds = new Gauge(reg, {
    name: "process_open_fds",
    help: "Open file descriptors.",
  });
  const maxFds = new Gauge(reg, {
    name: "process_max_fds",
    help: "Limit on open file descriptors.",
  });
  const fdUsed = new Gauge(reg, { name: "os_fd_used", help: "File descriptors in use." });
  const fdLimit = new Gauge(reg, { name: "os_fd_limit", help: "File descriptor limit." });
  const heapTotal = new Gauge(reg, {
    name: "nodejs_heap_size_total_bytes",
    help: "V8 heap size in bytes.",
  });
  const heapUsed = new Gauge(reg, {
    name: "nodejs_heap_size_used_bytes",
    help: "V8 heap bytes in use.",
  });
  const external = new Gauge(reg, {
    name: "nodejs_external_memory_bytes",
    help: "Bytes of memory held outside the V8 heap (buffers).",
  });

  reg.beforeCollect(async () => {
    const usage = cpuUsage();
    // A counter cannot be set: move it to the current total.
    cpu.inc((usage.user + usage.system) / 1e6 - cpu.value);
    const mem = Deno.memoryUsage();
    rss.set(mem.rss);
    heapTotal.set(mem.heapTotal);
    heapUsed.set(mem.heapUsed);
    external.set(mem.external);
    if (Deno.build.os !== "linux") return;
    const vm = await readProcStatVsize();
    if (vm !== undefined) vsize.set(vm);
    const fds = await countFds();
    if (fds !== undefined) {
      openFds.set(fds);
      fdUsed.set(fds);
    }
    const limits = await readLimits();
    const fdMax = limits?.get("Max open files");
    if (fdMax !== undefined) {
      maxFds.set(fdMax);
      fdLimit.set(fdMax);
    }
    const vmMax = limits?.get("Max address space");
    if (vmMax !== undefined) vsizeMax.set(vmMax);
  });
}

/** Field 23 of /proc/self/stat: virtual memory size in bytes. */
async function readProcStatVsize(): Promise<number | undefined> {
  try {
    const stat = await Deno.readTextFile("/proc/self/stat");
    // The command name (field 2) may hold spaces: count fields after its ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const v = Number(fields[20]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

async function countFds(): Promise<number | undefined> {
  try {
    let n = 0;
    for await (const _ of Deno.readDir("/proc/self/fd")) n++;
    // The directory handle being read is one of them.
    return n - 1;
  } catch {
    return undefined;
  }
}

/** 2^64 - 1 as a float (it rounds to 2^64): what Go prints for an unlimited rlimit. */
const UNLIMITED = 2 ** 64;

/** The soft limits of /proc/self/limits by name; "unlimited" is 2^64 - 1, as Go's procfs reads it. */
async function readLimits(): Promise<Map<string, number> | undefined> {
  try {
    const text = await Deno.readTextFile("/proc/self/limits");
    const out = new Map<string, number>();
    // "Max open files            1024                 524288               files"
    for (const m of text.matchAll(/^(Max [a-z ]+?)\s{2,}(unlimited|\d+)\s/gm)) {
      out.set(m[1], m[2] === "unlimited" ? UNLIMITED : Number(m[2]));
    }
    return out;
  } catch {
    return undefined;
  }
}
