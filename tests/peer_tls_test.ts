/**
 * TLS on the peer port: a 3-member cluster whose members talk over
 * `https://` peer URLs with mutual TLS replicates, elects a new leader when
 * the leader is SIGKILLed, adds a member that catches up from a snapshot,
 * and keeps out a member whose peer certificate it does not trust. Every
 * member accepts only the client CNs of `--peer-cert-allowed-cn`, and m2
 * dials with a certificate of its own (`--peer-client-cert-file`) whose CN
 * is the only one of m2's that list allows.
 */
import assert from "node:assert/strict";
import { waitForLeader } from "./harness/cluster.ts";
import { type CertPair, TestCa } from "./harness/certs.ts";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { putMany, serializableGet, waitUntil } from "./harness/kv_fill.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("peer_tls_test.ts");

function peerFlags(ca: TestCa, pair: CertPair): string[] {
  return [
    `--peer-cert-file=${pair.certFile}`,
    `--peer-key-file=${pair.keyFile}`,
    `--peer-trusted-ca-file=${ca.certFile}`,
    "--peer-client-cert-auth",
    `--peer-cert-allowed-cn=${ALLOWED_CNS}`,
    // Small, so that the joining member below is sent a snapshot.
    "--snapshot-count=500",
  ];
}

/** Client CNs the members accept: m2's own CN is not among them, its dialling cert's is. */
const ALLOWED_CNS = "m1,m2-dialer,m3,m4";

Deno.test({
  name: "peer tls: a mutual-TLS cluster replicates, survives SIGKILL of its leader, " +
    "snapshots to a new member, and keeps out an untrusted one",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cairn-peer-tls-" });
    const ca = await TestCa.create(dir, "peers");
    const other = await TestCa.create(dir, "other");
    const members: Member[] = [];
    try {
      for (let i = 1; i <= 3; i++) {
        const pair = await ca.issue(`m${i}`, `m${i}`);
        const extra = [];
        if (i === 2) {
          const dialer = await ca.issue("m2-dialer", "m2-dialer");
          extra.push(
            `--peer-client-cert-file=${dialer.certFile}`,
            `--peer-client-key-file=${dialer.keyFile}`,
          );
        }
        members.push(
          await Member.create({
            kind: "cairn",
            name: `m${i}`,
            peerScheme: "https",
            extraArgs: [...peerFlags(ca, pair), ...extra],
          }),
        );
      }
      const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
      const token = `peer-tls-${members[0].clientPort}`;
      for (const m of members) m.options.cluster = { initialCluster, token };
      for (const m of members) m.launch();
      await Promise.all(members.map((m) => m.waitHealthy()));

      // Replication over TLS. A put through m2 needs m2's own connections
      // (forwarding to the leader, or appends when it leads): they present
      // its dialling certificate, the only one of its CNs the others allow.
      const leader = await waitForLeader(members);
      await etcdctlOk(members[1].endpoint, ["put", "via-m2", "ok"]);
      await etcdctlOk(leader.endpoint, ["put", "first", "1"]);
      for (const m of members) {
        await waitUntil(
          `${m.name} to apply`,
          async () => (await serializableGet(m, "first")) === "1",
        );
      }

      // SIGKILL the leader: the two others elect a new one and keep taking writes.
      await leader.kill();
      const rest = members.filter((m) => m !== leader);
      const next = await waitForLeader(rest, 20_000);
      await etcdctlOk(next.endpoint, ["put", "after-kill", "2"]);
      leader.launch();
      await leader.waitHealthy();
      await waitUntil(
        "the old leader to catch up",
        async () => (await serializableGet(leader, "after-kill")) === "2",
      );

      // Enough writes that a new member's log position is long gone: it gets a snapshot.
      await putMany(next, "bulk/", 6000);

      // A member with a certificate from another CA is added but cannot take part.
      const strangerPair = await other.issue("m5", "m5");
      const stranger = await Member.create({
        kind: "cairn",
        name: "m5",
        peerScheme: "https",
        extraArgs: [
          `--peer-cert-file=${strangerPair.certFile}`,
          `--peer-key-file=${strangerPair.keyFile}`,
          `--peer-trusted-ca-file=${ca.certFile}`,
          "--peer-client-cert-auth",
        ],
      });
      members.push(stranger);
      // As a learner, so that its failure to join costs the cluster no quorum.
      await etcdctlOk(next.endpoint, [
        "member",
        "add",
        "m5",
        `--peer-urls=${stranger.peerUrl}`,
        "--learner",
      ]);
      stranger.options.cluster = {
        initialCluster: [...members.slice(0, 3), stranger].map((m) => `${m.name}=${m.peerUrl}`)
          .join(","),
        token,
        state: "existing",
      };
      stranger.launch();
      // It cannot even fetch the membership: the others refuse its certificate.
      const status = await stranger.waitExit(30_000);
      assert.ok(status && status.code !== 0, "the untrusted member gives up");
      assert.match(await stranger.stderrText(), /could not join the existing cluster/);
      await waitUntil(
        "the others to log the refusal",
        async () =>
          (await Promise.all(rest.map((m) => m.stderrText()))).join("\n")
            .includes('"msg":"rejected connection"'),
      );

      // A trusted member joins and catches up from a snapshot over TLS.
      const pair4 = await ca.issue("m4", "m4");
      const joiner = await Member.create({
        kind: "cairn",
        name: "m4",
        peerScheme: "https",
        extraArgs: peerFlags(ca, pair4),
      });
      members.push(joiner);
      await etcdctlOk(next.endpoint, ["member", "add", "m4", `--peer-urls=${joiner.peerUrl}`]);
      joiner.options.cluster = {
        initialCluster: [...members.slice(0, 3), joiner].map((m) => `${m.name}=${m.peerUrl}`)
          .join(","),
        token,
        state: "existing",
      };
      joiner.launch();
      await joiner.waitHealthy(30_000);
      await waitUntil(
        "the new member to catch up",
        async () => (await serializableGet(joiner, "bulk/5999")) === "v5999",
      );
      const snaps = [...Deno.readDirSync(`${joiner.dataDir}/member/snap`)].filter((e) =>
        e.name.endsWith(".snap")
      );
      assert.ok(snaps.length > 0, "the new member saved the snapshot it was sent");
      await etcdctlOk(joiner.endpoint, ["put", "from-m4", "4"]);
      assert.equal(await serializableGet(next, "from-m4"), "4");
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
