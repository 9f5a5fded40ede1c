/**
 * Starting and stopping one single-member server (etcd or cairn, which take
 * the same flags) for the benchmark, and timing spawn -> first served Get.
 *
 * @module
 */

import { join } from "node:path";
import { spawnTracked, stopTree, treeRss } from "./proc.ts";
import type { Rss } from "./proc.ts";
import { tail } from "./tools.ts";

/** A free loopback TCP port: bound to port 0, then released. */
export function freePort(avoid: Set<number> = new Set()): number {
  for (;;) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    // Never the etcd defaults, in case a system etcd starts there later.
    if (port !== 2379 && port !== 2380 && !avoid.has(port)) return port;
  }
}

/** Certificates for a server whose client URL is https (the TLS rows). */
export interface BenchTls {
  /** Server certificate and key (`--cert-file`, `--key-file`). */
  certFile: string;
  keyFile: string;
  /** The CA that signed it: kvtool's `-cacert`. */
  caFile: string;
}

/** kvtool's TLS arguments for a server spec (none for cleartext). */
export function kvtoolTlsArgs(tls: BenchTls | undefined): string[] {
  return tls ? ["-cacert", tls.caFile] : [];
}

/** The etcd member flags for a single-member cluster on loopback (https clients with `tls`). */
export function memberFlags(
  name: string,
  dataDir: string,
  client: number,
  peer: number,
  tls?: BenchTls,
): string[] {
  const c = `${tls ? "https" : "http"}://127.0.0.1:${client}`;
  const p = `http://127.0.0.1:${peer}`;
  const tlsFlags = tls ? ["--cert-file", tls.certFile, "--key-file", tls.keyFile] : [];
  return [
    ...tlsFlags,
    "--name",
    name,
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    c,
    "--advertise-client-urls",
    c,
    "--listen-peer-urls",
    p,
    "--initial-advertise-peer-urls",
    p,
    "--initial-cluster",
    `${name}=${p}`,
  ];
}

/** A running member. */
export interface Server {
  /** host:port for kvbench's -endpoint. */
  endpoint: string;
  /** Pid of the spawned process (its descendants count towards memory). */
  pid: number;
  /** Wall time from spawn to the first successful linearizable Get, ms. */
  startupMs: number;
  /** Where the server's stdout and stderr go. */
  logFile: string;
  /** Resident memory of the process tree right now. */
  rss(): Rss;
  /** Whether the process has exited (it should not have, while in use). */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

/** How to start one server: the command prefix the member flags follow. */
export interface ServerSpec {
  /** Member name, also used for file names: "etcd" or "cairn". */
  name: string;
  /** Executable and leading arguments, e.g. ["deno", "run", "-A", "main.ts"]. */
  argv: string[];
  /** Serve clients over TLS with these certificates. */
  tls?: BenchTls;
}

interface ProbeResult {
  served_ms?: number;
  error?: string;
}

/**
 * Starts a member with a fresh data dir under `workDir` and resolves once it
 * has served a linearizable Get. The probe (kvtool -mode probe) is started
 * first and the clock starts at the server's spawn, so the probe's own start
 * is not counted. Rejects, with the log tail, if the server exits or the
 * probe gives up within `timeoutMs`.
 */
export async function startServer(
  spec: ServerSpec,
  workDir: string,
  run: string,
  kvtool: string,
  timeoutMs: number,
): Promise<Server> {
  const client = freePort();
  const peer = freePort(new Set([client]));
  const endpoint = `127.0.0.1:${client}`;
  const dataDir = join(workDir, `${spec.name}-${run}.data`);
  const logFile = join(workDir, `${spec.name}-${run}.log`);

  const probe = spawnTracked(
    new Deno.Command(kvtool, {
      args: [
        "-mode",
        "probe",
        "-endpoint",
        endpoint,
        "-timeout",
        `${timeoutMs}ms`,
        ...kvtoolTlsArgs(spec.tls),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
  );
  const watched = watchProbe(probe, "probe: waiting");
  const probeOut = watched.output;
  await watched.ready;

  const t0 = performance.now();
  const child = spawnLogged(
    [...spec.argv, ...memberFlags(spec.name, dataDir, client, peer, spec.tls)],
    logFile,
  );
  let done = false;
  child.status.then(() => done = true);

  const winner = await Promise.race([
    probeOut.then((o) => ({ kind: "probe" as const, o, t: performance.now() })),
    child.status.then((s) => ({ kind: "exit" as const, s })),
  ]);
  const server: Server = {
    endpoint,
    pid: child.pid,
    startupMs: 0,
    logFile,
    rss: () => treeRss(child.pid),
    exited: () => done,
    stop: () => stopTree(child),
  };
  if (winner.kind === "exit") {
    await stopTree(probe, 500);
    await new Promise((r) => setTimeout(r, 100)); // let the log pump flush
    throw new Error(
      `${spec.name} exited with code ${winner.s.code} before serving; ${logFile}:\n` +
        tail(await readLog(logFile), 15),
    );
  }
  const text = winner.o.stdout.trim();
  let parsed: ProbeResult = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { error: text || "probe printed nothing" };
  }
  if (winner.o.code !== 0 || parsed.served_ms === undefined) {
    await server.stop();
    throw new Error(
      `${spec.name} did not serve a Get within ${timeoutMs} ms (${parsed.error}); ${logFile}:\n` +
        tail(await readLog(logFile), 15),
    );
  }
  server.startupMs = winner.t - t0;
  return server;
}

/**
 * Spawns a server (tracked, so an abort ends it) with its stdout and stderr
 * both written to `logFile`, which is truncated first.
 */
export function spawnLogged(argv: string[], logFile: string): Deno.ChildProcess {
  const log = Deno.openSync(logFile, { write: true, create: true, truncate: true });
  const child = spawnTracked(
    new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
  );
  // Both streams into one file; the file is closed only when both end.
  const writer = log.writable.getWriter();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) await writer.write(chunk);
  };
  Promise.all([pump(child.stdout), pump(child.stderr)]).finally(() =>
    writer.close().catch(() => {})
  );
  return child;
}

/** A server log without colour escapes, trimmed; a placeholder when empty or missing. */
export async function readLog(path: string): Promise<string> {
  try {
    // Deno and others colour their errors; the escapes would litter RESULTS.md.
    // deno-lint-ignore no-control-regex
    const text = (await Deno.readTextFile(path)).replace(/\x1b\[[0-9;]*m/g, "");
    return text.trim() || "(log empty)";
  } catch {
    return "(no log)";
  }
}

/**
 * Collects a probe's stdout and exit code; resolves `ready` once its stderr
 * shows `line` (it is polling the port by then), and drains stderr after.
 */
function watchProbe(child: Deno.ChildProcess, line: string): {
  ready: Promise<void>;
  output: Promise<{ code: number; stdout: string }>;
} {
  let seen = "";
  const ready = (async () => {
    const decoder = new TextDecoder();
    const reader = child.stderr.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return; // exited early: output() will carry its error
      seen += decoder.decode(value);
      if (seen.includes(line)) break;
    }
    (async () => {
      while (!(await reader.read()).done);
    })();
  })();
  const output = Promise.all([new Response(child.stdout).text(), child.status]).then((
    [stdout, status],
  ) => ({ code: status.code, stdout }));
  return { ready, output };
}
