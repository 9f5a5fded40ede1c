import assert from "node:assert/strict";
import {
  createLogger,
  isLogLevel,
  type LogLevel,
  LogSetupError,
  openLogOutputs,
  setupLogger,
} from "./log.ts";

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

// --- --logger and --log-outputs ---

function sinks() {
  const out: string[] = [];
  const err: string[] = [];
  const dec = new TextDecoder();
  return {
    out,
    err,
    deps: {
      stdout: (b: Uint8Array) => (out.push(dec.decode(b)), b.length),
      stderr: (b: Uint8Array) => (err.push(dec.decode(b)), b.length),
      journalSocket: "/nonexistent/journal.socket",
    },
  };
}

Deno.test("log outputs: default and stderr go to stderr, stdout to stdout, duplicates once", () => {
  const s = sinks();
  openLogOutputs(["default"], s.deps).writer("a\n");
  openLogOutputs([], s.deps).writer("b\n");
  openLogOutputs(["stderr", "stderr"], s.deps).writer("c\n");
  openLogOutputs(["stdout"], s.deps).writer("d\n");
  openLogOutputs(["stdout", "stderr"], s.deps).writer("e\n");
  assert.deepEqual(s.err, ["a\n", "b\n", "c\n", "e\n"]);
  assert.deepEqual(s.out, ["d\n", "e\n"]);
});

Deno.test("log outputs: files are appended to (several at once), /dev/null discards all", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const a = `${dir}/a.log`;
    const b = `${dir}/b.log`;
    Deno.writeTextFileSync(a, "old\n");
    const s = sinks();
    const outputs = openLogOutputs([a, `file://${b}`, "stderr"], s.deps);
    outputs.writer("line1\n");
    outputs.writer("line2\n");
    outputs.close();
    assert.equal(Deno.readTextFileSync(a), "old\nline1\nline2\n");
    assert.equal(Deno.readTextFileSync(b), "line1\nline2\n");
    assert.deepEqual(s.err, ["line1\n", "line2\n"]);
    const quiet = sinks();
    openLogOutputs(["stderr", "/dev/null", a], quiet.deps).writer("gone\n");
    assert.deepEqual(quiet.err, []);
    assert.equal(Deno.readTextFileSync(a), "old\nline1\nline2\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("log outputs: etcd 3.5's errors", () => {
  const s = sinks();
  const fails = (outputs: string[], message: string) =>
    assert.throws(() => openLogOutputs(outputs, s.deps), (e: unknown) => {
      assert.ok(e instanceof LogSetupError);
      assert.equal(e.message, message);
      return true;
    });
  fails(["default", "stderr"], 'multi logoutput for "default" is not supported yet');
  fails(
    ["/nonexistent/dir/x.log"],
    'couldn\'t open sink "/nonexistent/dir/x.log": open /nonexistent/dir/x.log: no such file or directory',
  );
  fails(
    ["http://example.com/log"],
    'couldn\'t open sink "http://example.com/log": no sink found for scheme "http"',
  );
  fails(
    ["systemd/journal"],
    "can't find journal (dial unixgram /nonexistent/journal.socket: connect: no such file or directory)",
  );
  fails(
    ["systemd/journal", "stderr"],
    'running with systemd/journal but other \'--log-outputs\' values (["systemd/journal" "stderr"]) ' +
      "are configured with 'default'; override 'default' value with something else",
  );
});

Deno.test("log outputs: with journald's socket present, journal lines go to stderr with a warning", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/journal.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const s = sinks();
    const out = openLogOutputs(["systemd/journal"], { ...s.deps, journalSocket: path });
    out.writer("x\n");
    assert.deepEqual(s.err, ["x\n"]);
    assert.equal(out.warnings.length, 1);
  } finally {
    listener.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("setupLogger: capnslog is removed in 3.5, unknown loggers refused, zap writes to its outputs", () => {
  const s = sinks();
  assert.throws(
    () => setupLogger({ logger: "capnslog", outputs: ["default"], level: "info" }, s.deps),
    { name: "LogSetupError", message: "--logger=capnslog is removed in v3.5" },
  );
  assert.throws(
    () => setupLogger({ logger: "bogus", outputs: ["default"], level: "info" }, s.deps),
    { message: 'unknown logger option "bogus"' },
  );
  const { logger } = setupLogger({ logger: "zap", outputs: ["stdout"], level: "warn" }, s.deps);
  logger.info("skipped");
  logger.warn("kept");
  assert.equal(s.out.length, 1);
  assert.equal(JSON.parse(s.out[0]).msg, "kept");
});
