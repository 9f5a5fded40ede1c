/**
 * One cluster member (cairn or etcd) run as a real child process.
 *
 * A member owns a temp directory holding its data dir and its captured
 * stdout/stderr, so a failing test can print what the process said. Every
 * started process is tracked and SIGKILLed when the test module unloads, so a
 * failed assertion never leaves a server behind.
 */

import * as https from "node:https";
import { freePort } from "./ports.ts";
import { cairnCommand, etcdCommand } from "./tools.ts";

/** Which implementation a member runs. */
export type MemberKind = "cairn" | "etcd";

/** How to start a member. */
export interface MemberOptions {
  /** cairn (the system under test, `CAIRN_CMD`) or the reference etcd. */
  kind: MemberKind;
  /** Member name; also used in `--initial-cluster`. Default "m1". */
  name?: string;
  /** Leave `--name` off the command line (to test `ETCD_NAME`). */
  omitNameFlag?: boolean;
  /** Extra flags appended after the standard ones. */
  extraArgs?: string[];
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
  /**
   * The cluster this member bootstraps with: `--initial-cluster` value and
   * token. Default: a cluster of this member alone.
   */
  cluster?: { initialCluster: string; token: string; state?: "new" | "existing" };
  /** How long to wait for /health, in ms. Default 30000 (deno startup is slow). */
  healthTimeoutMs?: number;
  /** Scheme of the client URL (default http); https members need TLS flags in extraArgs. */
  clientScheme?: "http" | "https";
  /** Scheme of the peer URL (default http); https members need peer TLS flags. */
  peerScheme?: "http" | "https";
  /**
   * Client certificate and key (PEM file paths) presented by the health
   * check of an https member started with --client-cert-auth. The server
   * certificate itself is not verified by the health check.
   */
  healthClientCert?: { certFile: string; keyFile: string };
  /** Working directory of the process (default: the test's). */
  cwd?: string;
}

const live = new Set<Deno.ChildProcess>();
const undestroyed = new Set<string>();

// Last line of defence: a test that throws before its cleanup, or a shared
// member whose teardown test was filtered out, must not leave servers holding
// ports or temp dirs behind.
globalThis.addEventListener("unload", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  if (Deno.env.get("KEEP_TEST_DIRS") === "1") return;
  for (const dir of undestroyed) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // a child may still be writing; nothing more to do at exit
    }
  }
});

/** A running (or stopped, restartable) member process. */
export class Member {
  /** Options it was started with. */
  readonly options: MemberOptions;
  /** Member name. */
  readonly name: string;
  /** Loopback client port. */
  readonly clientPort: number;
  /** Loopback peer port. */
  readonly peerPort: number;
  /** Temp directory owning everything below. */
  readonly dir: string;
  /** The `--data-dir`, kept across restarts. */
  readonly dataDir: string;
  /** File that accumulates the child's stderr across restarts. */
  readonly stderrPath: string;
  /** File that accumulates the child's stdout across restarts. */
  readonly stdoutPath: string;
  #child: Deno.ChildProcess | undefined;
  #status: Promise<Deno.CommandStatus> | undefined;
  #exit: Deno.CommandStatus | undefined;
  #pipes: Promise<unknown>[] = [];

  private constructor(options: MemberOptions, dir: string) {
    this.options = options;
    this.name = options.name ?? "m1";
    this.clientPort = freePort();
    this.peerPort = freePort();
    this.dir = dir;
    this.dataDir = `${dir}/data`;
    this.stderrPath = `${dir}/stderr.log`;
    this.stdoutPath = `${dir}/stdout.log`;
  }

  /** Starts a member on fresh ports and a fresh data dir and waits until healthy. */
  static async start(options: MemberOptions): Promise<Member> {
    const member = await Member.create(options);
    member.launch();
    try {
      await member.waitHealthy();
    } catch (err) {
      await member.destroy();
      throw err;
    }
    return member;
  }

  /** Allocates ports and a temp dir without starting anything. */
  static async create(options: MemberOptions): Promise<Member> {
    const dir = await Deno.makeTempDir({ prefix: `cairn-it-${options.kind}-` });
    undestroyed.add(dir);
    return new Member(options, dir);
  }

  /** `http://127.0.0.1:<clientPort>` (https with `clientScheme: "https"`) */
  get clientUrl(): string {
    return `${this.options.clientScheme ?? "http"}://127.0.0.1:${this.clientPort}`;
  }

  /** `http://127.0.0.1:<peerPort>` (https with `peerScheme: "https"`) */
  get peerUrl(): string {
    return `${this.options.peerScheme ?? "http"}://127.0.0.1:${this.peerPort}`;
  }

  /** `127.0.0.1:<clientPort>`, the form etcdctl's `--endpoints` takes. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  /** True while the process has been started and has not exited. */
  get running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  /** OS process id of the running process (undefined when not running), e.g. to read its RSS. */
  get pid(): number | undefined {
    return this.running ? this.#child!.pid : undefined;
  }

  /** Exit status of the last process, once it has exited. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** The full argv this member runs with. */
  argv(): string[] {
    const prefix = this.options.kind === "etcd" ? etcdCommand() : cairnCommand();
    const flags = [
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${this.options.cluster?.initialCluster ?? `${this.name}=${this.peerUrl}`}`,
      `--initial-cluster-state=${this.options.cluster?.state ?? "new"}`,
      `--initial-cluster-token=${this.options.cluster?.token ?? `it-${this.clientPort}`}`,
    ];
    if (!this.options.omitNameFlag) flags.unshift(`--name=${this.name}`);
    return [...prefix, ...flags, ...(this.options.extraArgs ?? [])];
  }

  /** Spawns the process (same data dir on every call) without waiting for health. */
  launch(): void {
    if (this.running) throw new Error(`${this.name}: already running`);
    const [cmd, ...args] = this.argv();
    const env: Record<string, string> = { ...this.options.env };
    const child = new Deno.Command(cmd, {
      args,
      env,
      cwd: this.options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    live.add(child);
    this.#child = child;
    this.#exit = undefined;
    this.#pipes = [
      appendStream(child.stdout, this.stdoutPath),
      appendStream(child.stderr, this.stderrPath),
    ];
    this.#status = child.status.then((status) => {
      live.delete(child);
      this.#exit = status;
      return status;
    });
  }

  /** Polls `GET /health` until it reports `{"health":"true"}`; throws with the stderr tail. */
  async waitHealthy(timeoutMs = this.options.healthTimeoutMs ?? 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (this.#exit) {
        throw new Error(
          `${this.options.kind} member ${this.name} exited with code ${this.#exit.code} ` +
            `before becoming healthy\n${await this.stderrTail()}`,
        );
      }
      try {
        const { status, body } = await this.#getHealth();
        if (status === 200 && JSON.parse(body).health === "true") return;
        last = `HTTP ${status} ${body}`;
      } catch (err) {
        last = String(err);
      }
      await sleep(100);
    }
    throw new Error(
      `${this.options.kind} member ${this.name} not healthy after ${timeoutMs}ms ` +
        `(last: ${last})\n${await this.stderrTail()}`,
    );
  }

  /** GET /health over http, or over https without verifying the server (and with the client cert). */
  async #getHealth(): Promise<{ status: number; body: string }> {
    if (this.options.clientScheme !== "https") {
      const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      return { status: res.status, body: await res.text() };
    }
    const cert = this.options.healthClientCert;
    return await new Promise((resolve, reject) => {
      const req = https.get(`${this.clientUrl}/health`, {
        rejectUnauthorized: false,
        cert: cert ? Deno.readTextFileSync(cert.certFile) : undefined,
        key: cert ? Deno.readTextFileSync(cert.keyFile) : undefined,
        timeout: 1000,
      }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
    });
  }

  /** Waits for the process to exit, up to timeoutMs; undefined if it is still running. */
  async waitExit(timeoutMs: number): Promise<Deno.CommandStatus | undefined> {
    if (!this.#status) return this.#exit;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    try {
      const status = await Promise.race([this.#status, timeout]);
      if (status) await Promise.allSettled(this.#pipes);
      return status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL: no chance to flush anything. */
  async kill(): Promise<void> {
    if (!this.running) return;
    try {
      this.#child!.kill("SIGKILL");
    } catch {
      // raced with exit
    }
    await this.waitExit(10_000);
  }

  /** SIGTERM, then SIGKILL if the process is still alive after graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    try {
      this.#child!.kill("SIGTERM");
    } catch {
      // raced with exit
    }
    if (!(await this.waitExit(graceMs))) await this.kill();
  }

  /** Stops (gracefully unless `hard`), starts again on the same data dir, waits for health. */
  async restart(hard = false): Promise<void> {
    if (hard) await this.kill();
    else await this.stop();
    this.launch();
    await this.waitHealthy();
  }

  /** Everything the process(es) wrote to stderr so far. */
  async stderrText(): Promise<string> {
    try {
      return await Deno.readTextFile(this.stderrPath);
    } catch {
      return "";
    }
  }

  /** The last lines of stderr, labelled, for failure messages. */
  async stderrTail(lines = 40): Promise<string> {
    const text = (await this.stderrText()).trimEnd().split("\n").slice(-lines).join("\n");
    return `--- ${this.options.kind} ${this.name} stderr (${this.stderrPath}) ---\n${text}`;
  }

  /**
   * Kills the process and removes the temp dir (kept when KEEP_TEST_DIRS=1).
   * etcd is SIGKILLed, not stopped: its graceful stop sends HTTP/2 GOAWAY,
   * and Deno's node:http2 client (this test process's gRPC clients) can
   * abort the whole process on a server GOAWAY (nghttp2's
   * `find_stream_on_goaway_func` assertion, seen in CI). cairn's client
   * port closes without GOAWAY, so it still gets SIGTERM.
   */
  async destroy(): Promise<void> {
    if (this.options.kind === "etcd") await this.kill();
    else await this.stop(3_000);
    await Promise.allSettled(this.#pipes);
    if (Deno.env.get("KEEP_TEST_DIRS") === "1") return;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    undestroyed.delete(this.dir);
  }
}

/**
 * Copies a child's output stream to the end of a file as it arrives (so a
 * test can read what a running member logged); finishes when the stream
 * closes. Chunks are written one by one rather than through `pipeTo`, which
 * was seen leaving the file empty until the child exited.
 */
async function appendStream(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  const file = await Deno.open(path, { create: true, append: true });
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let off = 0; off < value.length;) off += await file.write(value.subarray(off));
    }
  } catch {
    // the child died mid-write; what reached the file is what we have
  } finally {
    try {
      file.close();
    } catch {
      // already closed
    }
  }
}

/** Resolves after ms milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
