/**
 * Runs the real `etcdctl` (API v3) against one endpoint.
 */

/** What one etcdctl invocation produced. */
export interface CtlResult {
  /** Process exit code. */
  code: number;
  /** Everything printed on stdout. */
  stdout: string;
  /** Everything printed on stderr. */
  stderr: string;
}

/** Options for one etcdctl invocation. */
export interface CtlOptions {
  /**
   * Text fed to etcdctl's stdin. An array is written chunk by chunk with a
   * pause in between: `txn -i` reads each phase through a fresh buffered
   * reader, so text sent all at once would be swallowed by the first phase.
   */
  stdin?: string | string[];
  /** Kill etcdctl after this many ms (default 15000). */
  timeoutMs?: number;
}

/**
 * Runs `etcdctl --endpoints=<endpoint> <args...>` with ETCDCTL_API=3.
 * Short dial/command timeouts keep a dead server from stalling a test.
 */
export async function etcdctl(
  endpoint: string,
  args: string[],
  options: CtlOptions = {},
): Promise<CtlResult> {
  const env: Record<string, string> = { ETCDCTL_API: "3" };
  const command = new Deno.Command("etcdctl", {
    args: [`--endpoints=${endpoint}`, "--dial-timeout=3s", "--command-timeout=8s", ...args],
    env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    const chunks = typeof options.stdin === "string" ? [options.stdin] : options.stdin;
    for (const [i, chunk] of chunks.entries()) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 150));
      await writer.write(new TextEncoder().encode(chunk)).catch(() => {});
    }
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs etcdctl and throws (with its output) unless it exits 0; returns stdout. */
export async function etcdctlOk(
  endpoint: string,
  args: string[],
  options: CtlOptions = {},
): Promise<string> {
  const res = await etcdctl(endpoint, args, options);
  if (res.code !== 0) {
    throw new Error(
      `etcdctl ${args.join(" ")} exited ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`,
    );
  }
  return res.stdout;
}
