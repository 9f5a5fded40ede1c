/**
 * `--enable-pprof`: CPU profiles of the running member over HTTP, at
 * etcd's path `/debug/pprof/profile?seconds=N`. etcd serves Go's pprof
 * format; cairn runs on V8, so it serves a V8 CPU profile (the JSON
 * `.cpuprofile` format Chrome DevTools and speedscope open), recorded
 * through `node:inspector`'s Profiler domain, which works in Deno.
 *
 * Go's handler semantics are kept: `seconds` defaults to 30 (also for
 * values that are not positive integers), one profile runs at a time, and
 * a client that goes away ends the recording early. Go's other profiles
 * (heap, goroutine, ...) have no V8 equivalent served here.
 *
 * @module
 */
import type { Hono } from "hono";
import { fetchEnv } from "./fetch_env.ts";
import { PPROF_PROFILE_PATH } from "./pprof_paths.ts";

export { PPROF_PREFIX, PPROF_PROFILE_PATH } from "./pprof_paths.ts";
/** Go's default profile length. */
const DEFAULT_SECONDS = 30;
/**
 * Longest profile served. Go bounds it only by the server's write
 * timeout (etcd has none); a bound keeps what one request makes the
 * member hold (samples accumulate in memory) finite.
 */
export const MAX_PROFILE_SECONDS = 3600;
/** Sampling interval: 100 Hz, as Go's CPU profiler. */
const SAMPLING_INTERVAL_US = 10_000;

/** A V8 CPU profile (`Profiler.Profile` of the DevTools protocol). */
export interface CpuProfile {
  nodes: unknown[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** The profile length a `seconds` query value asks for (Go's parsing and default). */
export function profileSeconds(value: string | undefined): number {
  // Go's ParseInt: an optional sign and digits that fit an int64.
  if (value === undefined || !/^[+-]?\d{1,18}$/.test(value)) return DEFAULT_SECONDS;
  const n = Number(value);
  return n > 0 ? n : DEFAULT_SECONDS;
}

let busy = false;

/** Thrown when a profile is asked for while one is being recorded. */
export class ProfilerBusyError extends Error {
  constructor() {
    super("cpu profiling already in use");
  }
}

/**
 * Records a CPU profile for `ms` milliseconds, or until `signal` aborts.
 * One at a time per process: a second call rejects with ProfilerBusyError.
 */
export async function recordCpuProfile(ms: number, signal?: AbortSignal): Promise<CpuProfile> {
  if (busy) throw new ProfilerBusyError();
  busy = true;
  try {
    const { Session } = await import("node:inspector/promises");
    const session = new Session();
    session.connect();
    try {
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
      await session.post("Profiler.start");
      await waitFor(ms, signal);
      const { profile } = await session.post("Profiler.stop") as { profile: CpuProfile };
      return profile;
    } finally {
      await session.post("Profiler.disable").catch(() => {});
      session.disconnect();
    }
  } finally {
    busy = false;
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function waitFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Plain-text error response, as Go's `http.Error` writes it. */
function textError(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
  });
}

/** Serves the CPU profile on `app` (any method, as Go's handler). */
export function registerPprof(app: Hono): void {
  app.all(PPROF_PROFILE_PATH, async (c) => {
    const seconds = profileSeconds(c.req.query("seconds"));
    if (seconds > MAX_PROFILE_SECONDS) {
      return textError(400, `profile duration exceeds the limit of ${MAX_PROFILE_SECONDS}s`);
    }
    let profile: CpuProfile;
    try {
      // The client going away ends the recording (the server's signal, see fetch_env.ts).
      const signal = fetchEnv(c.env)?.signal ?? c.req.raw.signal;
      profile = await recordCpuProfile(seconds * 1000, signal);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return textError(500, `Could not enable CPU profiling: ${why}`);
    }
    return new Response(JSON.stringify(profile), {
      headers: {
        "content-type": "application/json",
        "content-disposition": 'attachment; filename="profile.cpuprofile"',
        "x-content-type-options": "nosniff",
      },
    });
  });
}
