/**
 * The command line behaves like etcd's: --version, rejection of unknown
 * flags and bad values (naming the flag), and ETCD_* environment variables.
 * Runs against CAIRN_CMD (so `CAIRN_CMD=etcd` checks the expectations on etcd).
 */

import assert from "node:assert/strict";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { Member } from "./harness/member.ts";
import { freePort } from "./harness/ports.ts";
import { cairnCommand, skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("cli_test.ts");

/** Output of one short-lived run of the cairn command. */
interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs the cairn command with `args`, killing it after timeoutMs. Listen URLs
 * on free ports and a temp data dir are appended unless `bare`, so a build
 * that wrongly accepts the arguments starts a throwaway member rather than
 * one on etcd's default ports.
 */
async function runCairn(args: string[], bare = false, timeoutMs = 20_000): Promise<RunResult> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-cli-" });
  const client = `http://127.0.0.1:${freePort()}`;
  const peer = `http://127.0.0.1:${freePort()}`;
  const safety = bare ? [] : [
    `--data-dir=${dir}/data`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
  ];
  const [cmd, ...prefix] = cairnCommand();
  const child = new Deno.Command(cmd, {
    args: [...prefix, ...args, ...safety],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const options = { ignore, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  ...options,
  name: "cli: --version exits 0 and prints a version",
  fn: async () => {
    const res = await runCairn(["--version"], true);
    assert.equal(res.code, 0, `--version exited ${res.code}: ${res.stderr}`);
    assert.match(res.stdout, /\bVersion: \d+\.\d+\.\d+/, `no version in: ${res.stdout}`);
  },
});

Deno.test({
  ...options,
  name: "cli: an unknown flag exits non-zero and names the flag",
  fn: async () => {
    const res = await runCairn(["--no-such-flag"]);
    assert.ok(!res.timedOut, "an unknown flag was accepted: the member kept running");
    assert.notEqual(res.code, 0);
    assert.match(res.stdout + res.stderr, /no-such-flag/, `flag not named in: ${res.stderr}`);
  },
});

Deno.test({
  ...options,
  name: "cli: a bad flag value exits non-zero and names the flag",
  fn: async () => {
    const res = await runCairn(["--snapshot-count=abc"]);
    assert.ok(!res.timedOut, "--snapshot-count=abc was accepted: the member kept running");
    assert.notEqual(res.code, 0);
    assert.match(res.stdout + res.stderr, /snapshot-count/, `flag not named in: ${res.stderr}`);
  },
});

Deno.test({
  ...options,
  name: "cli: --config-file is read as YAML (a bad value in it exits non-zero naming the key)",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cairn-cli-" });
    try {
      const file = `${dir}/bad.yml`;
      await Deno.writeTextFile(file, "name: from-yaml\nsnapshot-count: abc\n");
      const res = await runCairn(["--config-file", file]);
      assert.ok(!res.timedOut, "the bad config file was accepted: the member kept running");
      assert.notEqual(res.code, 0);
      assert.match(res.stdout + res.stderr, /snapshot-count/, `key not named in: ${res.stderr}`);
      const broken = `${dir}/broken.yml`;
      await Deno.writeTextFile(broken, "name: [unclosed\n");
      const res2 = await runCairn(["--config-file", broken]);
      assert.notEqual(res2.code, 0);
      assert.match(res2.stderr, /cannot parse config file/, res2.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...options,
  name: "cli: ETCD_NAME names the member (visible in member list)",
  fn: async () => {
    const member = await Member.start({
      kind: "cairn",
      name: "from-env",
      omitNameFlag: true,
      env: { ETCD_NAME: "from-env" },
      extraArgs: ["--log-level=warn"],
    });
    try {
      const list = await etcdctlOk(member.endpoint, ["member", "list", "-w=json"]);
      const members = JSON.parse(list).members as { name: string }[];
      assert.deepEqual(members.map((m) => m.name), ["from-env"]);
    } finally {
      await member.destroy();
    }
  },
});

Deno.test({
  ...options,
  name: "cli: ETCD_* environment variables configure limits (ETCD_MAX_TXN_OPS)",
  fn: async () => {
    const member = await Member.start({
      kind: "cairn",
      env: { ETCD_MAX_TXN_OPS: "2" },
      extraArgs: ["--log-level=warn"],
    });
    try {
      const ok = await etcdctlOk(member.endpoint, ["txn"], { stdin: "\nput a 1\nput b 2\n\n\n" });
      assert.match(ok, /^SUCCESS/);
      await assert.rejects(
        etcdctlOk(member.endpoint, ["txn"], { stdin: "\nput a 1\nput b 2\nput c 3\n\n\n" }),
        /too many operations in txn request/,
      );
    } finally {
      await member.destroy();
    }
  },
});
