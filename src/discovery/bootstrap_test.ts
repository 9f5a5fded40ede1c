import assert from "node:assert/strict";
import { join } from "node:path";
import { type Config, parseConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { configFromSrv, memberInitialized, resolveSrvBootstrap } from "./bootstrap.ts";
import { type SrvAnswer, SrvDiscoveryError, type SrvResolver } from "./srv.ts";

const SRV = "_etcd-server._tcp.example.com";
const HOSTS: Record<string, string[]> = {
  "m0.example.com": ["10.0.0.1"],
  "m1.example.com": ["10.0.0.2"],
  "m2.example.com": ["10.0.0.3"],
};

function resolver(records: SrvAnswer[]): SrvResolver & { asked: number } {
  const r = {
    asked: 0,
    lookupSrv(name: string) {
      r.asked++;
      if (name !== SRV || records.length === 0) {
        return Promise.reject(new Error(`lookup ${name} on 10.0.0.53:53: no such host`));
      }
      return Promise.resolve(records);
    },
    lookupHost(host: string) {
      r.asked++;
      const found = HOSTS[host.replace(/\.$/, "")];
      return found ? Promise.resolve(found) : Promise.reject(new Error(`no such host ${host}`));
    },
  };
  return r;
}

const all: SrvAnswer[] = ["m0", "m1", "m2"].map((h) => ({
  priority: 0,
  weight: 0,
  port: 2380,
  target: `${h}.example.com.`,
}));

function config(dataDir: string, ...extra: string[]): Config {
  const out = parseConfig([
    "--name=m0",
    `--data-dir=${dataDir}`,
    "--discovery-srv=example.com",
    "--initial-advertise-peer-urls=http://10.0.0.1:2380",
    "--listen-peer-urls=http://10.0.0.1:2380",
    ...extra,
  ], {});
  if (out.kind !== "run") throw new Error("expected a run config");
  return out.config;
}

const quiet = createLogger("error", { writer: () => {} });

Deno.test("resolveSrvBootstrap: a new member gets its initial cluster from SRV records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cfg = config(join(dir, "data"));
    const out = await resolveSrvBootstrap(cfg, quiet, resolver(all));
    assert.deepEqual(
      [...out.initialCluster].map(([n, us]) => `${n}=${us.map((u) => u.href).join("|")}`),
      [
        "m0=http://m0.example.com:2380/",
        "0=http://m1.example.com:2380/",
        "1=http://m2.example.com:2380/",
      ],
    );
    // Its advertised URLs stay as given: only the cluster map names hosts.
    assert.deepEqual(out.initialAdvertisePeerUrls.map((u) => u.href), ["http://10.0.0.1:2380/"]);
    assert.equal(out.name, "m0");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveSrvBootstrap: refuses a member whose URL is not in the records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      resolveSrvBootstrap(config(join(dir, "data")), quiet, resolver(all.slice(1))),
      new SrvDiscoveryError(
        'error setting up initial cluster: cannot find local etcd member "m0" in SRV records',
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveSrvBootstrap: an advertise URL the records lack fails etcd's bootstrap check", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cfg = config(
      join(dir, "data"),
      "--initial-advertise-peer-urls=http://10.0.0.1:2380,http://10.0.0.1:2381",
    );
    await assert.rejects(
      resolveSrvBootstrap(cfg, quiet, resolver(all)),
      (err: Error) =>
        err instanceof SrvDiscoveryError &&
        err.message.startsWith(
          "--initial-cluster has m0=http://m0.example.com:2380 but missing from " +
            "--initial-advertise-peer-urls=http://10.0.0.1:2380,http://10.0.0.1:2381",
        ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveSrvBootstrap: a member with a WAL on disk does not ask DNS", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cfg = config(dir);
    assert.equal(await memberInitialized(cfg), false);
    await Deno.mkdir(join(dir, "member", "wal"), { recursive: true });
    assert.equal(await memberInitialized(cfg), false);
    await Deno.writeFile(
      join(dir, "member", "wal", "0000000000000000-0000000000000000.wal"),
      new Uint8Array(),
    );
    assert.equal(await memberInitialized(cfg), true);
    const r = resolver([]);
    assert.equal(await resolveSrvBootstrap(cfg, quiet, r), cfg);
    assert.equal(r.asked, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveSrvBootstrap: without --discovery-srv the config is returned as is", async () => {
  const out = parseConfig(["--name=m0"], {});
  if (out.kind !== "run") throw new Error("expected a run config");
  const r = resolver(all);
  assert.equal(await resolveSrvBootstrap(out.config, quiet, r), out.config);
  assert.equal(r.asked, 0);
});

Deno.test("configFromSrv: a failure is logged as etcd's 'discovery failed' and yields undefined", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  try {
    // No name server answers for this domain: the system resolver fails the lookups.
    const cfg = config(join(dir, "data"), "--discovery-srv=cairn-srv-test.invalid");
    const log = createLogger("error", { writer: (l) => lines.push(l) });
    assert.equal(await configFromSrv(cfg, log), undefined);
    const last = JSON.parse(lines.at(-1)!);
    assert.equal(last.level, "error");
    assert.equal(last.msg, "discovery failed");
    assert.match(
      last.error,
      /^error setting up initial cluster: error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl\._tcp\.cairn-srv-test\.invalid on \S+:53: /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
