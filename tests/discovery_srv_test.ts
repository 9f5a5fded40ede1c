/**
 * DNS SRV bootstrap (`--discovery-srv`, `--discovery-srv-name`) through the
 * real system resolver path.
 *
 * Each member runs in its own network namespace (harness/netns.ts) under
 * `ip netns exec`, which bind-mounts /etc/netns/<ns>/resolv.conf over
 * /etc/resolv.conf; that file names a DNS responder this test runs
 * (harness/dns_responder.ts) on the root-namespace end of the node's client
 * link. So the members find the records the test chose with the same
 * lookups they would make in production, and nothing outside the lab is
 * asked.
 *
 * 1. Three cairn members given only `--discovery-srv` (no
 *    `--initial-cluster`) form one cluster from `_etcd-server._tcp` records
 *    and serve etcdctl; the member ids are the ones etcd derives from the
 *    records' URLs and the cluster token.
 * 2. A member restarted with its data on disk does not ask DNS again.
 * 3. A member whose own URL is not among the records refuses to start with
 *    etcd's message and exit code, compared with etcd 3.4 given the same
 *    records. (That comparison uses `_etcd-server-ssl` records:
 *    etcd 3.4's GetDNSClusterNames drops `_etcd-server` answers, a bug 3.5
 *    fixed, so 3.4 cannot bootstrap from http records at all.)
 *
 * Needs root for the namespaces: without it the test is skipped, not failed.
 */
import assert from "node:assert/strict";
import { computeMemberId, idToHex } from "../src/server/ids.ts";
import { DnsResponder, type DnsTable } from "./harness/dns_responder.ts";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { sleep } from "./harness/member.ts";
import {
  CLIENT_PORT,
  type LabNode,
  NetLab,
  netnsUnavailable,
  onExit,
  PEER_PORT,
} from "./harness/netns.ts";
import { NetnsProcess } from "./harness/netns_member.ts";
import { cairnCommand, cairnIsEtcd, etcdCommand, missingTools } from "./harness/tools.ts";

const skipReason = missingTools() ?? netnsUnavailable();
if (skipReason) console.warn(`discovery_srv_test.ts: ${skipReason}`);

/** The domain given to --discovery-srv; only the test's responder knows it. */
const DOMAIN = "srv.cairn.test";
const TOKEN = "cairn-srv-test";

/** The root-namespace end of a node's client link (netns.ts numbers it one below the node's end). */
function rootSide(node: LabNode): string {
  return node.clientAddr.replace(/\d+$/, (d) => String(Number(d) - 1));
}

const hostOf = (i: number) => `m${i}.${DOMAIN}`;

/** One member process (cairn or etcd) in a lab namespace, started with SRV discovery flags. */
class SrvProc {
  readonly #proc: NetnsProcess;

  constructor(
    readonly kind: "cairn" | "etcd",
    readonly name: string,
    readonly node: LabNode,
    readonly dir: string,
    readonly extra: string[],
  ) {
    this.#proc = new NetnsProcess(name, `${dir}/${kind}-stderr.log`);
  }

  get endpoint(): string {
    return `${this.node.clientAddr}:${CLIENT_PORT}`;
  }

  get clientUrl(): string {
    return `http://${this.endpoint}`;
  }

  argv(): string[] {
    const peer = `http://${this.node.peerAddr}:${PEER_PORT}`;
    return [
      ...(this.kind === "cairn" ? cairnCommand() : [...etcdCommand(), "--logger=zap"]),
      `--name=${this.name}`,
      `--data-dir=${this.dir}/${this.kind}-data`,
      `--listen-client-urls=${this.clientUrl}`,
      `--advertise-client-urls=${this.clientUrl}`,
      `--listen-peer-urls=${peer}`,
      // An address, while the records name hosts: matched after resolving, as etcd does.
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster-token=${TOKEN}`,
      `--discovery-srv=${DOMAIN}`,
      ...this.extra,
    ];
  }

  launch(): void {
    this.#proc.launch(this.node.ns, this.argv());
  }

  /** Waits (bounded) for the process to exit on its own. */
  waitExit(timeoutMs: number): Promise<Deno.CommandStatus> {
    return this.#proc.waitExit(timeoutMs);
  }

  waitHealthy(timeoutMs = 30_000): Promise<void> {
    return this.#proc.waitHealthy(this.clientUrl, timeoutMs);
  }

  kill(): Promise<void> {
    return this.#proc.kill();
  }

  stderr(): Promise<string> {
    return this.#proc.stderr();
  }

  /** The `error` field of the "discovery failed" log line (zap JSON, as etcd and cairn write it). */
  async discoveryFailure(): Promise<string | undefined> {
    for (const line of (await this.stderr()).split("\n")) {
      if (!line.startsWith("{")) continue;
      const rec = JSON.parse(line);
      if (rec.msg === "discovery failed") return rec.error;
    }
    return undefined;
  }
}

/** Points every node's resolver at the responder; returns the undo. */
function pointResolvers(lab: NetLab): () => void {
  const dirs = lab.nodes.map((n) => `/etc/netns/${n.ns}`);
  const undo = () => {
    for (const d of dirs) {
      try {
        Deno.removeSync(d, { recursive: true });
      } catch {
        // not created, or already removed
      }
    }
    try {
      Deno.removeSync("/etc/netns"); // only when empty: other labs may be using it
    } catch {
      // in use or absent
    }
  };
  const unhook = onExit(undo);
  for (const [i, n] of lab.nodes.entries()) {
    Deno.mkdirSync(dirs[i], { recursive: true });
    Deno.writeTextFileSync(`${dirs[i]}/resolv.conf`, `nameserver ${rootSide(n)}\n`);
  }
  return () => {
    undo();
    unhook();
  };
}

/** `member list` rows as id (hex), name, peer URLs, client URLs. */
interface MemberRow {
  id: string;
  name: string;
  peerUrls: string;
  clientUrls: string;
}

async function memberList(endpoint: string): Promise<MemberRow[]> {
  const out = await etcdctlOk(endpoint, ["member", "list"]);
  return out.trim().split("\n").map((line) => {
    const [id, , name, peerUrls, clientUrls] = line.split(", ");
    return { id, name, peerUrls, clientUrls };
  }).sort((a, b) => a.peerUrls.localeCompare(b.peerUrls));
}

Deno.test({
  name: "discovery-srv: members bootstrap from SRV records through the system resolver",
  ignore: skipReason !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const lab = NetLab.create(4);
    const table: DnsTable = { srv: new Map(), addrs: new Map() };
    for (const n of lab.nodes) table.addrs.set(hostOf(n.index), [n.peerAddr]);
    const dns = await DnsResponder.start(lab.nodes.map(rootSide), 53, table);
    const undoResolvers = pointResolvers(lab);
    const dir = await Deno.makeTempDir({ prefix: "cairn-srv-" });
    const procs: SrvProc[] = [];
    const start = (kind: "cairn" | "etcd", i: number, extra: string[] = []) => {
      const p = new SrvProc(kind, `m${i}`, lab.node(i), `${dir}/n${i}`, extra);
      Deno.mkdirSync(p.dir, { recursive: true });
      procs.push(p);
      p.launch();
      return p;
    };
    try {
      const cluster = [0, 1, 2];
      table.srv.set(
        `_etcd-server._tcp.${DOMAIN}`,
        cluster.map((i) => ({ priority: 0, weight: 10, port: PEER_PORT, target: hostOf(i) })),
      );

      await t.step("three members form one cluster from _etcd-server records alone", async () => {
        const members = cluster.map((i) => start("cairn", i));
        await Promise.all(members.map((m) => m.waitHealthy()));
        assert.ok(dns.log.includes(`SRV _etcd-server-ssl._tcp.${DOMAIN}`), dns.log.join("\n"));
        assert.ok(dns.log.includes(`SRV _etcd-server._tcp.${DOMAIN}`), dns.log.join("\n"));

        // Names arrive when each member publishes itself; until then peers know "0" and "1".
        let rows: MemberRow[] = [];
        const deadline = Date.now() + 15_000;
        while (Date.now() < deadline) {
          rows = await memberList(members[0].endpoint);
          if (rows.every((r, i) => r.name === `m${i}`)) break;
          await sleep(200);
        }
        assert.deepEqual(
          rows,
          cluster.map((i) => {
            const peer = `http://${hostOf(i)}:${PEER_PORT}`;
            return {
              id: idToHex(computeMemberId([peer], TOKEN)),
              name: `m${i}`,
              peerUrls: peer,
              clientUrls: members[i].clientUrl,
            };
          }),
        );
        await etcdctlOk(members[1].endpoint, ["put", "srv-key", "from-dns"]);
        const got = await etcdctlOk(members[2].endpoint, ["get", "srv-key", "--print-value-only"]);
        assert.equal(got.trim(), "from-dns");
        const health = await etcdctl(members.map((m) => m.endpoint).join(","), [
          "endpoint",
          "health",
        ]);
        assert.equal(health.code, 0, health.stderr);
      });

      await t.step("a restarted member with data on disk does not ask DNS", async () => {
        const m0 = procs[0];
        await m0.kill();
        dns.table.srv.delete(`_etcd-server._tcp.${DOMAIN}`);
        dns.log.length = 0;
        m0.launch();
        await m0.waitHealthy();
        assert.deepEqual(dns.log.filter((q) => q.startsWith("SRV")), []);
        const got = await etcdctlOk(m0.endpoint, ["get", "srv-key", "--print-value-only"]);
        assert.equal(got.trim(), "from-dns");
      });

      await t.step(
        "a member missing from the records refuses to start, as etcd 3.4 does",
        async () => {
          // https records under --discovery-srv-name=blue naming only the cluster above.
          table.srv.set(
            `_etcd-server-ssl-blue._tcp.${DOMAIN}`,
            cluster.map((i) => ({ priority: 0, weight: 0, port: PEER_PORT, target: hostOf(i) })),
          );
          const want =
            'error setting up initial cluster: cannot find local etcd member "m3" in SRV records';
          const kinds: ("cairn" | "etcd")[] = cairnIsEtcd() ? ["cairn"] : ["cairn", "etcd"];
          for (const kind of kinds) {
            const p = start(kind, 3, ["--discovery-srv-name=blue"]);
            const status = await p.waitExit(30_000);
            const stderr = await p.stderr();
            assert.equal(status.code, 1, `${kind} exit code\n${stderr}`);
            assert.equal(await p.discoveryFailure(), want, `${kind}\n${stderr}`);
          }
          assert.ok(
            dns.log.includes(`SRV _etcd-server-ssl-blue._tcp.${DOMAIN}`),
            dns.log.join("\n"),
          );
          assert.ok(dns.log.includes(`SRV _etcd-server-blue._tcp.${DOMAIN}`), dns.log.join("\n"));
        },
      );
    } finally {
      await Promise.all(procs.map((p) => p.kill()));
      dns.close();
      undoResolvers();
      lab.destroy();
      if (Deno.env.get("KEEP_TEST_DIRS") !== "1") {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  },
});
