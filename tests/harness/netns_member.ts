/**
 * A cluster member run inside a NetLab namespace with `ip netns exec`.
 *
 * The loopback `Member` binds 127.0.0.1; this one listens on its node's
 * client and peer addresses, so cutting the node's peer link partitions it
 * while the test still reaches its client port. Like `Member`, it keeps its
 * data dir and captured output in a temp dir, and is SIGKILLed if the test
 * module unloads with it still running.
 */

import { CLIENT_PORT, type LabNode, onExit, PEER_PORT } from "./netns.ts";
import { sleep } from "./member.ts";
import { cairnCommand } from "./tools.ts";

/**
 * A process run in a lab namespace with `ip netns exec` (which execs the
 * command in place, so the child pid is the process's own): its output
 * appended to files, SIGKILLed if the test module unloads with it running.
 */
export class NetnsProcess {
  #child: Deno.ChildProcess | undefined;
  #status: Promise<Deno.CommandStatus> | undefined;
  #exit: Deno.CommandStatus | undefined;
  #pipes: Promise<unknown>[] = [];
  #removeHook: (() => void) | undefined;

  /**
   * @param name names the process in errors
   * @param stderrPath file its stderr is appended to
   * @param stdoutPath file its stdout is appended to (discarded when undefined)
   */
  constructor(
    readonly name: string,
    readonly stderrPath: string,
    readonly stdoutPath?: string,
  ) {}

  /** True while the process runs. */
  get running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  /** Exit status of the process, once it has exited. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** Spawns `argv` in namespace `ns` without waiting for anything. */
  launch(ns: string, argv: string[]): void {
    if (this.running) throw new Error(`${this.name}: already running`);
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, ...argv],
      stdin: "null",
      stdout: this.stdoutPath === undefined ? "null" : "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#exit = undefined;
    this.#removeHook = onExit(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    });
    this.#pipes = [appendStream(child.stderr, this.stderrPath)];
    if (this.stdoutPath !== undefined) {
      this.#pipes.push(appendStream(child.stdout, this.stdoutPath));
    }
    this.#status = child.status.then((status) => {
      this.#exit = status;
      this.#removeHook?.();
      return status;
    });
  }

  /** Polls `<clientUrl>/health` from the root namespace until it reports healthy. */
  async waitHealthy(clientUrl: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (this.#exit) {
        throw new Error(
          `${this.name} exited with code ${this.#exit.code} before becoming healthy\n` +
            (await this.stderrTail()),
        );
      }
      try {
        const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        const body = await res.text();
        if (res.ok && JSON.parse(body).health === "true") return;
        last = `HTTP ${res.status} ${body}`;
      } catch (err) {
        last = String(err);
      }
      await sleep(200);
    }
    throw new Error(
      `${this.name} not healthy after ${timeoutMs} ms (last: ${last})\n${await this.stderrTail()}`,
    );
  }

  /** Waits (bounded) for the process to exit on its own; throws if it is still running. */
  async waitExit(timeoutMs: number): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      this.#status!,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (!status) throw new Error(`${this.name} still running after ${timeoutMs} ms`);
    await Promise.allSettled(this.#pipes);
    return status;
  }

  /** SIGKILL, then waits (bounded) for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    try {
      this.#child!.kill("SIGKILL");
    } catch {
      // raced with exit
    }
    await this.waitExit(10_000).catch(() => {});
  }

  /** Everything written to stderr so far. */
  async stderr(): Promise<string> {
    return await Deno.readTextFile(this.stderrPath).catch(() => "");
  }

  /** The last lines of stderr, labelled, for failure messages. */
  async stderrTail(lines = 30): Promise<string> {
    const tail = (await this.stderr()).trimEnd().split("\n").slice(-lines).join("\n");
    return `--- ${this.name} stderr (${this.stderrPath}) ---\n${tail}`;
  }
}

/** How to start a namespaced member. */
export interface NetnsMemberOptions {
  /** Member name (`--name`, and its key in `--initial-cluster`). */
  name: string;
  /** The namespace it runs in. */
  node: LabNode;
  /** `--initial-cluster`, `--initial-cluster-token`, `--initial-cluster-state`. */
  cluster: { initialCluster: string; token: string; state?: "new" | "existing" };
  /** Flags appended after the standard ones. */
  extraArgs?: string[];
}

/** One member process in a namespace. */
export class NetnsMember {
  /** Options it was created with. */
  readonly options: NetnsMemberOptions;
  /** Member name. */
  readonly name: string;
  /** Temp directory owning the data dir and logs. */
  readonly dir: string;
  /** File accumulating the child's stderr. */
  readonly stderrPath: string;
  readonly #proc: NetnsProcess;
  readonly #removeDirHook: () => void;

  private constructor(options: NetnsMemberOptions, dir: string) {
    this.options = options;
    this.name = options.name;
    this.dir = dir;
    this.stderrPath = `${dir}/stderr.log`;
    this.#proc = new NetnsProcess(this.name, this.stderrPath, `${dir}/stdout.log`);
    // Registered before any process hook, so it runs after the kill at exit.
    this.#removeDirHook = onExit(() => {
      if (Deno.env.get("KEEP_TEST_DIRS") === "1") return;
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // best effort at exit
      }
    });
  }

  /** Allocates a temp dir without starting anything. */
  static async create(options: NetnsMemberOptions): Promise<NetnsMember> {
    const dir = await Deno.makeTempDir({ prefix: `cairn-netns-${options.name}-` });
    return new NetnsMember(options, dir);
  }

  /** The node this member runs on. */
  get node(): LabNode {
    return this.options.node;
  }

  /** `http://<client address>:<CLIENT_PORT>` */
  get clientUrl(): string {
    return `http://${this.node.clientAddr}:${CLIENT_PORT}`;
  }

  /** `http://<peer address>:<PEER_PORT>` */
  get peerUrl(): string {
    return `http://${this.node.peerAddr}:${PEER_PORT}`;
  }

  /** `<client address>:<CLIENT_PORT>`, as etcdctl's `--endpoints` takes it. */
  get endpoint(): string {
    return `${this.node.clientAddr}:${CLIENT_PORT}`;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#proc.running;
  }

  /** Exit status of the process, once it has exited. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#proc.exitStatus;
  }

  /** The member's own command line (without the `ip netns exec` prefix). */
  argv(): string[] {
    const c = this.options.cluster;
    return [
      ...cairnCommand(),
      `--name=${this.name}`,
      `--data-dir=${this.dir}/data`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${c.initialCluster}`,
      `--initial-cluster-token=${c.token}`,
      `--initial-cluster-state=${c.state ?? "new"}`,
      ...(this.options.extraArgs ?? []),
    ];
  }

  /** Spawns the member in its namespace without waiting for health. */
  launch(): void {
    this.#proc.launch(this.node.ns, this.argv());
  }

  /** Polls `/health` from the root namespace until it reports healthy. */
  waitHealthy(timeoutMs = 30_000): Promise<void> {
    return this.#proc.waitHealthy(this.clientUrl, timeoutMs);
  }

  /** SIGKILL, then waits (bounded) for the exit. */
  kill(): Promise<void> {
    return this.#proc.kill();
  }

  /** The last lines of stderr, labelled, for failure messages. */
  stderrTail(lines = 30): Promise<string> {
    return this.#proc.stderrTail(lines);
  }

  /** Kills the process and removes the temp dir (kept when KEEP_TEST_DIRS=1). */
  async destroy(): Promise<void> {
    await this.kill();
    this.#removeDirHook();
    if (Deno.env.get("KEEP_TEST_DIRS") === "1") return;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Copies a child's output stream to the end of a file. */
async function appendStream(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  const file = await Deno.open(path, { create: true, append: true });
  try {
    await stream.pipeTo(file.writable);
  } catch {
    try {
      file.close();
    } catch {
      // pipeTo already closed it
    }
  }
}
