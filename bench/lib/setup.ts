/**
 * What every bench entry point sets up the same way: the two servers it
 * compares (from `ETCD_CMD` and `CAIRN_CMD`), stopping them on Ctrl-C or
 * SIGTERM, a fresh work directory under `BENCH_DIR`, and loading a store
 * with kvtool's load mode.
 *
 * @module
 */
import { defaultCairnArgv } from "./cairn_cmd.ts";
import { stopAll } from "./proc.ts";
import type { ServerSpec } from "./server.ts";
import { type JsonRun, runJson } from "./tools.ts";

/** The two systems a bench compares. */
export interface ServerSpecs {
  etcd: ServerSpec;
  cairn: ServerSpec;
}

/**
 * etcd and cairn as given by `ETCD_CMD` and `CAIRN_CMD` (split on white
 * space), or `etcd` from PATH and cairn as users run it
 * ({@link defaultCairnArgv}).
 */
export function serverSpecs(
  repo: string,
  env: (name: string) => string | undefined = (k) => Deno.env.get(k),
): ServerSpecs {
  const split = (cmd: string) => cmd.trim().split(/\s+/);
  const cairn = env("CAIRN_CMD");
  return {
    etcd: { name: "etcd", argv: split(env("ETCD_CMD") ?? "etcd") },
    cairn: {
      name: "cairn",
      argv: cairn ? split(cairn) : defaultCairnArgv(repo),
    },
  };
}

/**
 * On SIGINT or SIGTERM, stops every server the bench started and exits
 * 130, so an interrupted run leaves no member behind. Returns the function
 * that removes the handlers.
 */
export function stopServersOnSignal(): () => void {
  const onSignal = () => {
    console.error("interrupted: stopping servers");
    stopAll(1000).finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  return () => {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  };
}

/** A fresh directory named `prefix…` under `BENCH_DIR` (default /tmp), made with its parents. */
export async function makeWorkDir(prefix: string): Promise<string> {
  const parent = Deno.env.get("BENCH_DIR") ?? "/tmp";
  await Deno.mkdir(parent, { recursive: true });
  return await Deno.makeTempDir({ dir: parent, prefix });
}

/** Removes a work directory, or says where it is when `keep` asks to look at it afterwards. */
export async function removeWorkDir(dir: string, keep: boolean): Promise<void> {
  if (keep) console.error(`kept ${dir}`);
  else await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** What kvtool's load mode prints. */
export interface LoadResult {
  /** Seconds the load took. */
  seconds?: number;
  /** Why the load failed. */
  error?: string;
  /** Why the count of keys after the load did not match. */
  count_error?: string;
}

/**
 * Puts `keys` keys `<prefix>…` (default `s/`) of 256-byte values through
 * `endpoint` with 100 clients on 10 connections, as every loaded-store
 * bench does, bounded by `timeoutS` (kvtool's own bound; the process gets
 * 30 s more to report).
 */
export function loadKeys(
  kvtool: string,
  endpoint: string,
  keys: number,
  timeoutS: number,
  prefix = "s/",
): Promise<JsonRun<LoadResult>> {
  return runJson<LoadResult>(kvtool, [
    "-mode",
    "load",
    "-endpoint",
    endpoint,
    "-n",
    String(keys),
    "-prefix",
    prefix,
    "-val",
    "256",
    "-clients",
    "100",
    "-conns",
    "10",
    "-timeout",
    `${timeoutS}s`,
  ], (timeoutS + 30) * 1000);
}

/** The message of a thrown value, for a report's error list. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
