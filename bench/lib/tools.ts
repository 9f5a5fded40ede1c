/**
 * The client-side instruments of the benchmark: kvbench (shared load
 * generator beside the repo, in `<repo>/../shared/kvbench`) and kvtool
 * (bench/kvtool: start-up probe, 100k-key loader, watch benchmark). Both are Go programs
 * on the official etcd client, built once and then reused.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnTracked, stopTree } from "./proc.ts";

/** The repository root: bench/lib/ is two levels below it. */
export function repoRoot(): string {
  return dirname(dirname(dirname(fileURLToPath(import.meta.url))));
}

/** Whether a path exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Output of one command whose stdout is a single JSON object. */
export interface JsonRun<T> {
  /** Parsed stdout, or null when it was not JSON (crash, dial failure). */
  json: T | null;
  /** Exit code; kvbench exits 1 when any request failed, 2 when it could not dial. */
  code: number;
  /** Last lines of stderr, for error messages. */
  stderrTail: string;
  /** Whether the harness had to kill it after `timeoutMs`. */
  timedOut: boolean;
}

/** Runs a command, bounded by `timeoutMs`, and parses the last stdout line as JSON. */
export async function runJson<T>(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<JsonRun<T>> {
  const child = spawnTracked(
    new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }),
  );
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stopTree(child, 1000);
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  let json: T | null = null;
  try {
    json = JSON.parse(stdout.split("\n").pop() ?? "") as T;
  } catch {
    json = null;
  }
  return { json, code: out.code, stderrTail: tail(stderr, 5), timedOut };
}

/** The last `n` lines of a text. */
export function tail(text: string, n: number): string {
  return text.split("\n").slice(-n).join("\n");
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<void> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) {
    const err = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${tail(err.trim(), 20)}`);
  }
}

/** Where the shared kvbench sources live: beside the repo, or $KVBENCH_SRC. */
export function kvbenchSource(repo: string): string {
  return Deno.env.get("KVBENCH_SRC") ?? join(repo, "..", "shared", "kvbench");
}

/**
 * Returns the kvbench binary ($KVBENCH, default /tmp/kvbench), building it
 * with the shared build.sh when missing. build.sh also installs Go and the
 * Debian clientv3 sources, which kvtool needs too.
 */
export async function ensureKvbench(repo: string): Promise<string> {
  const bin = Deno.env.get("KVBENCH") ?? "/tmp/kvbench";
  if (exists(bin) && await goDepsInstalled()) return bin;
  const script = join(kvbenchSource(repo), "build.sh");
  if (!exists(script)) {
    throw new Error(`kvbench sources not found at ${script} (set KVBENCH_SRC or KVBENCH)`);
  }
  console.error(`building kvbench: ${script} ${bin}`);
  await run("bash", [script, bin]);
  return bin;
}

async function goDepsInstalled(): Promise<boolean> {
  const out = await new Deno.Command("dpkg", {
    args: ["-s", "golang-go", "golang-etcd-server-dev"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ code: 1 }));
  return out.code === 0;
}

/** The Go sources of kvtool (every .go file in bench/kvtool), sorted. */
export function kvtoolSources(repo: string): string[] {
  const dir = join(repo, "bench", "kvtool");
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".go") && !e.name.endsWith("_test.go"))
    .map((e) => join(dir, e.name))
    .sort();
}

/**
 * Returns the kvtool binary ($KVTOOL, default /tmp/cairn-bench-kvtool),
 * rebuilding it when missing or older than any of bench/kvtool/*.go. Built
 * like kvbench: GOPATH mode against Debian's /usr/share/gocode.
 */
export async function ensureKvtool(repo: string): Promise<string> {
  const bin = Deno.env.get("KVTOOL") ?? "/tmp/cairn-bench-kvtool";
  const srcs = kvtoolSources(repo);
  const newest = Math.max(...srcs.map((f) => Deno.statSync(f).mtime!.getTime()));
  if (exists(bin) && Deno.statSync(bin).mtime!.getTime() >= newest) return bin;
  console.error(`building kvtool -> ${bin}`);
  const gopath = await Deno.makeTempDir({ prefix: "kvtool-gopath-" });
  try {
    const pkg = join(gopath, "src", "kvtool");
    await Deno.mkdir(pkg, { recursive: true });
    for (const f of srcs) await Deno.copyFile(f, join(pkg, basename(f)));
    await run("bash", ["-c", `cd '${pkg}' && go build -o '${bin}' .`], {
      GO111MODULE: "off",
      GOPATH: `${gopath}:/usr/share/gocode`,
      GOFLAGS: "",
    });
  } finally {
    await Deno.remove(gopath, { recursive: true });
  }
  return bin;
}
