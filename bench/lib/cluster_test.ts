import assert from "node:assert/strict";
import { agreedLeader, clusterMemberFlags, parseEndpointStatus, startCluster } from "./cluster.ts";

Deno.test("clusterMemberFlags name every member in --initial-cluster", () => {
  const ports = [{ client: 11, peer: 21 }, { client: 12, peer: 22 }, { client: 13, peer: 23 }];
  const f = clusterMemberFlags("m", 1, ports, "/d2", "tok");
  const flag = (name: string) => f[f.indexOf(name) + 1];
  assert.equal(flag("--name"), "m2");
  assert.equal(flag("--data-dir"), "/d2");
  assert.equal(flag("--listen-client-urls"), "http://127.0.0.1:12");
  assert.equal(flag("--advertise-client-urls"), "http://127.0.0.1:12");
  assert.equal(flag("--listen-peer-urls"), "http://127.0.0.1:22");
  assert.equal(flag("--initial-advertise-peer-urls"), "http://127.0.0.1:22");
  assert.equal(
    flag("--initial-cluster"),
    "m1=http://127.0.0.1:21,m2=http://127.0.0.1:22,m3=http://127.0.0.1:23",
  );
  assert.equal(flag("--initial-cluster-token"), "tok");
  assert.equal(flag("--initial-cluster-state"), "new");
});

// etcdctl 3.4's simple output, with a warning line for a member that failed.
const STATUS = `127.0.0.1:23701, 77fbfd6041c9f8ba, 3.5.17, 4.1 kB, false, false, 2, 7, 7, 
{"level":"warn","msg":"failed to get status"}
127.0.0.1:23702, a023d910eeb241cb, 3.4.23, 20 kB, true, false, 2, 7, 7, 
127.0.0.1:23703, 312b2c17be0e8e04, 3.4.23, 20 kB, false, false, 2, 7, 7, 
`;

Deno.test("parseEndpointStatus reads endpoint, id, leadership and term, skipping noise", () => {
  const s = parseEndpointStatus(STATUS);
  assert.equal(s.length, 3);
  assert.deepEqual(s[1], {
    endpoint: "127.0.0.1:23702",
    id: "a023d910eeb241cb",
    isLeader: true,
    raftTerm: 2,
  });
  assert.deepEqual(s.map((x) => x.isLeader), [false, true, false]);
});

Deno.test("agreedLeader needs every member, one leader and one term", () => {
  const eps = ["127.0.0.1:23701", "127.0.0.1:23702", "127.0.0.1:23703"];
  const s = parseEndpointStatus(STATUS);
  assert.equal(agreedLeader(eps, s), "127.0.0.1:23702");
  assert.equal(agreedLeader(eps, s.slice(0, 2)), null, "a member did not answer");
  assert.equal(agreedLeader(eps, s.map((x) => ({ ...x, isLeader: false }))), null, "no leader");
  assert.equal(agreedLeader(eps, s.map((x) => ({ ...x, isLeader: true }))), null, "two leaders");
  assert.equal(
    agreedLeader(eps, s.map((x, i) => ({ ...x, raftTerm: i === 0 ? 3 : 2 }))),
    null,
    "terms differ: an election is under way",
  );
  assert.equal(agreedLeader(["127.0.0.1:1", ...eps.slice(1)], s), null, "wrong endpoints");
});

function onPath(cmd: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(`${d}/${cmd}`).isFile;
    } catch {
      return false;
    }
  });
}

Deno.test({
  name: "startCluster brings up 3 etcd members and finds the one leader",
  ignore: !onPath("etcd") || !onPath("etcdctl"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bench-cluster-test-" });
    try {
      const c = await startCluster({ name: "etcd", argv: ["etcd"] }, dir, "t", 3, 30_000);
      try {
        assert.equal(c.endpoints.length, 3);
        assert.ok(c.endpoints.includes(c.leader));
        assert.ok(!c.exited());
        assert.equal(c.rss().processes, 3);
      } finally {
        await c.stop();
      }
      assert.ok(c.exited());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
