import assert from "node:assert/strict";
import { Hono } from "hono";
import type { FetchEnv } from "./fetch_env.ts";
import {
  MAX_PROFILE_SECONDS,
  ProfilerBusyError,
  profileSeconds,
  recordCpuProfile,
  registerPprof,
} from "./pprof.ts";

Deno.test("pprof: seconds parse as Go's handler does, 30 by default", () => {
  assert.equal(profileSeconds(undefined), 30);
  assert.equal(profileSeconds("5"), 5);
  assert.equal(profileSeconds("+7"), 7);
  assert.equal(profileSeconds("0"), 30);
  assert.equal(profileSeconds("-3"), 30);
  assert.equal(profileSeconds("1.5"), 30);
  assert.equal(profileSeconds("abc"), 30);
  assert.equal(profileSeconds("99999999999999999999999"), 30, "not an int64");
});

Deno.test("pprof: records a V8 CPU profile with samples of the work done meanwhile", async () => {
  const busy = setInterval(() => {
    let x = 0;
    for (let i = 0; i < 200_000; i++) x += Math.sqrt(i);
    if (x < 0) console.log(x);
  }, 5);
  try {
    const profile = await recordCpuProfile(300);
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 1);
    assert.ok((profile.samples?.length ?? 0) > 0, "samples recorded");
    assert.ok(profile.endTime > profile.startTime);
  } finally {
    clearInterval(busy);
  }
});

Deno.test("pprof: one profile at a time; an aborted request ends it early", async () => {
  const ac = new AbortController();
  const first = recordCpuProfile(60_000, ac.signal);
  await assert.rejects(recordCpuProfile(10), ProfilerBusyError);
  const t0 = performance.now();
  ac.abort();
  const profile = await first;
  assert.ok(performance.now() - t0 < 5000, "stopped at the abort, not after 60 s");
  assert.ok(Array.isArray(profile.nodes));
  // Free again.
  await recordCpuProfile(10);
});

Deno.test("pprof: the route serves the profile as JSON, refuses over-long and concurrent ones", async () => {
  const app = new Hono();
  registerPprof(app);
  const res = await app.request("/debug/pprof/profile?seconds=1");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.match(res.headers.get("content-disposition") ?? "", /filename="profile.cpuprofile"/);
  const profile = await res.json();
  assert.ok(Array.isArray(profile.nodes));

  const tooLong = await app.request(`/debug/pprof/profile?seconds=${MAX_PROFILE_SECONDS + 1}`);
  assert.equal(tooLong.status, 400);
  await tooLong.body?.cancel();

  const ac = new AbortController();
  // The handler starts recording before its first await: no waiting needed.
  const running = app.request("/debug/pprof/profile?seconds=30", { signal: ac.signal });
  const busy = await app.request("/debug/pprof/profile?seconds=1");
  assert.equal(busy.status, 500);
  assert.equal(await busy.text(), "Could not enable CPU profiling: cpu profiling already in use\n");
  ac.abort();
  await (await running).body?.cancel();
});

Deno.test("pprof: the HTTP/1.1 server's signal (c.env) ends a recording when the client leaves", async () => {
  const app = new Hono();
  registerPprof(app);
  const ac = new AbortController();
  const started = performance.now();
  const env: FetchEnv = { signal: ac.signal };
  const running = app.fetch(new Request("http://x/debug/pprof/profile?seconds=30"), env);
  ac.abort();
  const res = await running;
  assert.equal(res.status, 200);
  await res.body?.cancel();
  assert.ok(performance.now() - started < 10_000, "the recording ended with the client");
});

Deno.test("pprof: not served unless registered", async () => {
  const res = await new Hono().request("/debug/pprof/profile?seconds=1");
  assert.equal(res.status, 404);
  await res.body?.cancel();
});
