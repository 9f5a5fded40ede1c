import assert from "node:assert/strict";
import { createLogger, isLogLevel, type LogLevel } from "./log.ts";

const fixed = new Date("2026-01-02T03:04:05.678Z");

function capture(level: LogLevel, fields?: Record<string, unknown>) {
  const lines: string[] = [];
  const log = createLogger(level, { writer: (l) => lines.push(l), now: () => fixed, fields });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l)) };
}

Deno.test("log: writes zap-shaped JSON lines with newline", () => {
  const { log, lines } = capture("info");
  log.info("hello", { "member-id": 5n, count: 3 });
  assert.equal(
    lines[0],
    '{"level":"info","ts":"2026-01-02T03:04:05.678Z","msg":"hello","member-id":"5","count":3}\n',
  );
});

Deno.test("log: level filtering skips lower levels", () => {
  const { log, parsed } = capture("warn");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(parsed().map((r) => [r.level, r.msg]), [["warn", "w"], ["error", "e"]]);
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("error"), true);
});

Deno.test("log: debug threshold writes everything, fatal nothing", () => {
  const all = capture("debug");
  for (const f of [all.log.debug, all.log.info, all.log.warn, all.log.error]) f("x");
  assert.equal(all.lines.length, 4);
  const none = capture("fatal");
  for (const f of [none.log.debug, none.log.info, none.log.warn, none.log.error]) f("x");
  assert.equal(none.lines.length, 0);
});

Deno.test("log: skipped levels do not evaluate serialisation", () => {
  const { log, lines } = capture("error");
  const trap = {
    toJSON() {
      throw new Error("should not serialise");
    },
  };
  log.info("x", { trap });
  assert.equal(lines.length, 0);
});

Deno.test("log: bigint as unsigned hex, errors as message, bytes as text", () => {
  const { log, parsed } = capture("info");
  log.info("m", {
    id: 0x8e9e05c52164694dn,
    neg: -1n,
    error: new Error("boom"),
    key: new TextEncoder().encode("foo"),
    urls: [new URL("http://127.0.0.1:2379"), new URL("https://[::1]:2379/x")],
  });
  const r = parsed()[0];
  assert.equal(r.id, "8e9e05c52164694d");
  assert.equal(r.neg, "ffffffffffffffff");
  assert.equal(r.error, "boom");
  assert.equal(r.key, "foo");
  assert.deepEqual(r.urls, ["http://127.0.0.1:2379", "https://[::1]:2379/x"]);
});

Deno.test("log: caller goes before msg, with() binds fields", () => {
  const { log, lines } = capture("info", { caller: "server/node.ts" });
  const child = log.with({ "local-member-id": 1n });
  child.info("started", { term: 2 });
  assert.equal(
    lines[0],
    '{"level":"info","ts":"2026-01-02T03:04:05.678Z","caller":"server/node.ts","msg":"started",' +
      '"local-member-id":"1","term":2}\n',
  );
});

Deno.test("log: reserved keys in fields cannot overwrite level/msg", () => {
  const { log, parsed } = capture("info");
  log.info("real", { msg: "fake", level: "fatal" });
  const r = parsed()[0];
  assert.equal(r.msg, "real");
  assert.equal(r.level, "info");
});

Deno.test("log: unserialisable fields do not throw", () => {
  const { log, parsed } = capture("info");
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  log.warn("cyclic", { loop });
  const r = parsed()[0];
  assert.equal(r.msg, "cyclic");
  assert.match(r["log-error"], /cannot serialise fields/);
});

Deno.test("log: a throwing writer does not throw to the caller", () => {
  const log = createLogger("info", {
    writer: () => {
      throw new Error("closed");
    },
  });
  log.error("x");
});

Deno.test("log: isLogLevel", () => {
  assert.equal(isLogLevel("panic"), true);
  assert.equal(isLogLevel("trace"), false);
});
