/**
 * cairn accepts every flag the installed etcd lists in `etcd --help`: its
 * own `--help` lists each one, each parses with an etcd-style value, and a
 * real member started with every accepted-but-ignored flag (and a handful of
 * others, on the command line and as ETCD_* variables) runs, logging one
 * line per ignored flag. Bad values and refused flags exit non-zero naming
 * the flag.
 *
 * etcd must be installed (`make test` installs it): without it these tests
 * fail rather than skip, since the flag list comes from etcd itself.
 */

import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { ConfigError, parseConfig } from "../src/config.ts";
import { FLAG_EXAMPLES } from "../src/config/examples.ts";
import { FLAGS } from "../src/config/flags.ts";
import { Member } from "./harness/member.ts";
import { cairnCommand, etcdCommand, REPO_ROOT } from "./harness/tools.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

/** Output of one short-lived command. */
interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCommand(argv: string[], timeoutMs = 30_000): Promise<RunResult> {
  const [cmd, ...args] = argv;
  let child;
  try {
    child = new Deno.Command(cmd, {
      args,
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new Error(`cannot run ${cmd} (is it installed? \`make test\` installs etcd): ${e}`);
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

let etcdFlagsCache: string[] | undefined;

/** Every flag name `etcd --help` prints on this machine. */
async function etcdFlags(): Promise<string[]> {
  if (etcdFlagsCache) return etcdFlagsCache;
  const res = await runCommand([...etcdCommand(), "--help"]);
  const text = res.stdout + res.stderr;
  const names = [...text.matchAll(/^\s+--([a-z0-9][a-z0-9.-]*)/gm)].map((m) => m[1]);
  assert.ok(
    names.length > 50,
    `etcd --help listed only ${names.length} flags; is etcd installed? Output:\n${text}`,
  );
  etcdFlagsCache = [...new Set(names)];
  return etcdFlagsCache;
}

Deno.test({
  ...options,
  name: "flag surface: cairn --help lists every flag etcd --help lists",
  fn: async () => {
    const names = await etcdFlags();
    const res = await runCommand([...cairnCommand(), "--help"]);
    assert.equal(res.code, 0, res.stderr);
    const missing = names.filter((n) => !res.stdout.includes(`--${n} `));
    assert.deepEqual(missing, [], `cairn --help does not list: ${missing.join(", ")}`);
  },
});

Deno.test({
  ...options,
  name: "flag surface: every etcd flag parses with an etcd-style value (flag, ETCD_*, YAML)",
  fn: async () => {
    for (const name of await etcdFlags()) {
      const e = FLAG_EXAMPLES[name];
      assert.ok(e, `no example value for etcd's --${name}: cairn does not know the flag`);
      if (name === "config-file") continue; // it names a file; tested below by a real start
      const pairs: [string, string][] = [[name, e.value], ...Object.entries(e.with ?? {})];
      const attempts: [string, () => unknown][] = [
        ["flag", () => parseConfig(pairs.map(([k, v]) => `--${k}=${v}`), {})],
        ["env", () =>
          parseConfig(
            [],
            Object.fromEntries(
              pairs.map(([k, v]) => [`ETCD_${k.toUpperCase().replaceAll("-", "_")}`, v]),
            ),
          )],
      ];
      if (name !== "version") {
        const yaml = pairs.map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`).join("");
        attempts.push([
          "config file",
          () => parseConfig(["--config-file=f"], {}, () => yaml, parseYaml),
        ]);
      }
      for (const [how, attempt] of attempts) {
        try {
          attempt();
          assert.ok(!e.refused, `--${name} via ${how}: cairn was meant to refuse it`);
        } catch (err) {
          assert.ok(err instanceof ConfigError, `--${name} via ${how}: ${err}`);
          assert.doesNotMatch(err.message, /not defined/, `--${name} via ${how}`);
          assert.ok(e.refused, `--${name}=${e.value} via ${how}: ${err.message}`);
          assert.match(err.message, e.refused);
        }
      }
    }
  },
});

Deno.test({
  ...options,
  name: "flag surface: a member runs with every ignored flag, logging one line for each",
  fn: async () => {
    const ignored = Object.entries(FLAGS).filter(([n, s]) =>
      s.ignored && !FLAG_EXAMPLES[n].refused
    );
    // One ignored flag comes as its ETCD_* variable instead (a flag and its variable conflict).
    const viaEnv = "experimental-memory-mlock";
    const args = ignored.filter(([n]) => n !== viaEnv).map(([n]) =>
      `--${n}=${FLAG_EXAMPLES[n].value}`
    );
    args.push(
      "-v",
      "--max-snapshots=10",
      "--max-wals=10",
      "--grpc-keepalive-min-time=10s",
      "--grpc-keepalive-interval=1h",
      "--cors=*",
      "--host-whitelist=*",
      "--metrics=basic",
      "--log-outputs=stderr",
      "--initial-election-tick-advance=true",
      "--experimental-compaction-batch-limit=500",
      "--experimental-warning-apply-duration=200ms",
      "--auth-token-ttl=600",
      "--bcrypt-cost=10",
      "--tls-min-version=TLS1.2",
      "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    );
    const member = await Member.start({
      kind: "cairn",
      extraArgs: args,
      env: {
        ETCD_EXPERIMENTAL_MEMORY_MLOCK: "true",
        ETCD_MAX_CONCURRENT_STREAMS: "1000",
        ETCD_RAFT_READ_TIMEOUT: "10s",
      },
    });
    try {
      const log = await member.stderrText();
      assert.doesNotMatch(log, /not defined/);
      const noted = [...ignored.map(([n]) => n), "v"];
      for (const name of noted) {
        const spec = FLAGS[name];
        const value = name === viaEnv ? "true" : FLAG_EXAMPLES[name]?.value;
        // Legacy names (no spec here) are always noted; others unless set to cairn's behaviour.
        const unless = spec?.ignored?.unless;
        const expected = unless !== undefined && unless === value ? 0 : 1;
        const lines = log.split("\n").filter((l) =>
          l.includes(`--${name}=`) || l.includes(`--${name} is`)
        ).filter((l) => l.includes("has no effect"));
        assert.equal(lines.length, expected, `--${name}: ${lines.length} notes in\n${log}`);
      }
    } finally {
      await member.destroy();
    }
  },
});

Deno.test({
  ...options,
  name: "flag surface: refused values and flags exit non-zero naming the flag",
  fn: async () => {
    const cases: [string[], RegExp, number][] = [
      [["--max-concurrent-streams=-1"], /-max-concurrent-streams/, 2],
      [["--tls-min-version=TLS1.0"], /tls-min-version/, 1],
      [["--discovery=https://discovery.etcd.io/abc"], /--discovery=/, 1],
      [["--logger=glog"], /unknown logger option "glog"/, 1],
    ];
    for (const [args, pattern, code] of cases) {
      const res = await runCommand([...cairnCommand(), ...args]);
      assert.equal(res.code, code, `${args.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, pattern, args.join(" "));
    }
  },
});
