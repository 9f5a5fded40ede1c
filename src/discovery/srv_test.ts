import assert from "node:assert/strict";
import {
  dnsClusterNames,
  getCluster,
  initialClusterFromSrv,
  orderSrv,
  type SrvAnswer,
  SrvDiscoveryError,
  type SrvDiscoveryOptions,
  type SrvResolver,
  srvService,
  urlsEqualResolved,
} from "./srv.ts";

/** A resolver over fixed tables that records what it was asked. */
function fakeResolver(
  srv: Record<string, SrvAnswer[]>,
  hosts: Record<string, string[]>,
): SrvResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookupSrv(name) {
      asked.push(`SRV ${name}`);
      const found = srv[name];
      if (!found || found.length === 0) {
        return Promise.reject(new Error(`lookup ${name} on 10.0.0.53:53: no such host`));
      }
      return Promise.resolve(found);
    },
    lookupHost(host) {
      asked.push(`HOST ${host}`);
      const found = hosts[host.replace(/\.$/, "")];
      if (!found) return Promise.reject(new Error(`lookup ${host} on 10.0.0.53:53: no such host`));
      return Promise.resolve(found);
    },
  };
}

const srvOf = (target: string, port = 2380, priority = 0, weight = 0): SrvAnswer => ({
  priority,
  weight,
  port,
  target: `${target}.`,
});

const HOSTS = {
  "m0.example.com": ["10.0.0.1"],
  "m1.example.com": ["10.0.0.2"],
  "m2.example.com": ["10.0.0.3"],
};

function opts(over: Partial<SrvDiscoveryOptions> = {}): SrvDiscoveryOptions {
  return {
    name: "m0",
    domain: "example.com",
    serviceName: "",
    advertisePeerUrls: [new URL("http://10.0.0.1:2380")],
    random: () => 0,
    ...over,
  };
}

const clusterText = (m: Map<string, URL[]>) =>
  [...m].flatMap(([n, us]) => us.map((u) => `${n}=${u.protocol}//${u.host}`)).sort().join(",");

Deno.test("srvService: etcd-server[-ssl] with an optional -name suffix", () => {
  assert.equal(srvService("http", ""), "etcd-server");
  assert.equal(srvService("https", ""), "etcd-server-ssl");
  assert.equal(srvService("http", "prod"), "etcd-server-prod");
  assert.equal(srvService("https", "prod"), "etcd-server-ssl-prod");
});

Deno.test("orderSrv: lower priority first; equal weights of zero keep answer order", () => {
  const a = [srvOf("c", 1, 20), srvOf("a", 1, 10), srvOf("b", 2, 10)];
  assert.deepEqual(orderSrv(a, () => 0.99).map((s) => s.target), ["a.", "b.", "c."]);
});

Deno.test("orderSrv: within a priority the draw is weighted (Go's shuffleByWeight)", () => {
  const group = [srvOf("light", 1, 0, 1), srvOf("heavy", 1, 0, 9)];
  // Sorted by weight first: [light(1), heavy(9)]; a draw below 1 picks light, else heavy.
  assert.deepEqual(orderSrv(group, () => 0.05).map((s) => s.target), ["light.", "heavy."]);
  assert.deepEqual(orderSrv(group, () => 0.5).map((s) => s.target), ["heavy.", "light."]);
  // Go swaps the drawn answer with the front one: [a1,b2,c3] drawing c leaves [b, a] behind it.
  const three = [srvOf("a", 1, 0, 1), srvOf("b", 1, 0, 2), srvOf("c", 1, 0, 3)];
  const draws = [5 / 6, 0];
  assert.deepEqual(orderSrv(three, () => draws.shift() ?? 0).map((s) => s.target), [
    "c.",
    "b.",
    "a.",
  ]);
});

Deno.test("getCluster: the member is named by its resolved advertise URL, others 0, 1, ...", async () => {
  const r = fakeResolver({
    "_etcd-server._tcp.example.com": [
      srvOf("m1.example.com"),
      srvOf("m0.example.com"),
      srvOf("m2.example.com"),
    ],
  }, HOSTS);
  const parts = await getCluster(r, "http", "etcd-server", opts());
  assert.deepEqual(parts, [
    "0=http://m1.example.com:2380",
    "m0=http://m0.example.com:2380",
    "1=http://m2.example.com:2380",
  ]);
});

Deno.test("getCluster: a host-name advertise URL is resolved before matching", async () => {
  const r = fakeResolver({
    "_etcd-server._tcp.example.com": [srvOf("m0.example.com"), srvOf("m1.example.com")],
  }, { ...HOSTS, "alias.example.com": ["10.0.0.2"] });
  const parts = await getCluster(
    r,
    "http",
    "etcd-server",
    opts({ name: "me", advertisePeerUrls: [new URL("http://alias.example.com:2380")] }),
  );
  assert.deepEqual(parts, ["0=http://m0.example.com:2380", "me=http://m1.example.com:2380"]);
});

Deno.test("getCluster: a dual-stack target matches by its IPv4 address, as Go picks it", async () => {
  const r = fakeResolver({
    "_etcd-server._tcp.example.com": [srvOf("dual.example.com")],
  }, { "dual.example.com": ["fd00::1", "10.0.0.1"] });
  assert.deepEqual(await getCluster(r, "http", "etcd-server", opts()), [
    "m0=http://dual.example.com:2380",
  ]);
});

Deno.test("getCluster: the port is part of the match", async () => {
  const r = fakeResolver({
    "_etcd-server._tcp.example.com": [srvOf("m0.example.com", 2381)],
  }, HOSTS);
  assert.deepEqual(await getCluster(r, "http", "etcd-server", opts()), [
    "0=http://m0.example.com:2381",
  ]);
});

Deno.test("getCluster: a target that does not resolve is skipped", async () => {
  const r = fakeResolver({
    "_etcd-server._tcp.example.com": [srvOf("gone.example.com"), srvOf("m0.example.com")],
  }, HOSTS);
  assert.deepEqual(await getCluster(r, "http", "etcd-server", opts()), [
    "m0=http://m0.example.com:2380",
  ]);
});

Deno.test("getCluster: no resolvable target reports the last resolve error", async () => {
  const r = fakeResolver({
    "_etcd-server._tcp.example.com": [srvOf("gone.example.com")],
  }, HOSTS);
  await assert.rejects(
    getCluster(r, "http", "etcd-server", opts()),
    new Error(
      "error querying DNS SRV records for _etcd-server lookup gone.example.com. on 10.0.0.53:53: no such host",
    ),
  );
});

Deno.test("getCluster: a failed SRV lookup is wrapped with etcd's prefix", async () => {
  const r = fakeResolver({}, HOSTS);
  await assert.rejects(
    getCluster(r, "https", "etcd-server-ssl", opts()),
    new Error(
      "error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl._tcp.example.com on 10.0.0.53:53: no such host",
    ),
  );
});

Deno.test("getCluster: an unresolvable advertise URL fails before any SRV lookup", async () => {
  const r = fakeResolver({ "_etcd-server._tcp.example.com": [srvOf("m0.example.com")] }, HOSTS);
  await assert.rejects(
    getCluster(
      r,
      "http",
      "etcd-server",
      opts({ advertisePeerUrls: [new URL("http://nowhere.example.com:2380")] }),
    ),
    new Error("lookup nowhere.example.com on 10.0.0.53:53: no such host"),
  );
  assert.deepEqual(r.asked, ["HOST nowhere.example.com"]);
});

Deno.test("getCluster: its own record under the other scheme is a scheme mismatch", async () => {
  const r = fakeResolver({ "_etcd-server._tcp.example.com": [srvOf("m0.example.com")] }, HOSTS);
  await assert.rejects(
    getCluster(
      r,
      "http",
      "etcd-server",
      opts({ advertisePeerUrls: [new URL("https://10.0.0.1:2380")] }),
    ),
    new Error(
      "error querying DNS SRV records for _etcd-server bootstrap at http://m0.example.com:2380 " +
        "from DNS for etcd-server has scheme mismatch with expected peer https://10.0.0.1:2380",
    ),
  );
});

Deno.test("dnsClusterNames: https and http answers are combined; --discovery-srv-name adds the suffix", async () => {
  const r = fakeResolver({
    "_etcd-server-ssl-prod._tcp.example.com": [srvOf("m0.example.com")],
    "_etcd-server-prod._tcp.example.com": [srvOf("m1.example.com"), srvOf("m2.example.com")],
  }, HOSTS);
  const got = await dnsClusterNames(
    r,
    opts({ serviceName: "prod", advertisePeerUrls: [new URL("https://10.0.0.1:2380")] }),
  );
  assert.deepEqual(got.entries, [
    "m0=https://m0.example.com:2380",
    "0=http://m1.example.com:2380",
    "1=http://m2.example.com:2380",
  ]);
  assert.equal(got.error, undefined);
  assert.deepEqual(r.asked.filter((q) => q.startsWith("SRV")), [
    "SRV _etcd-server-ssl-prod._tcp.example.com",
    "SRV _etcd-server-prod._tcp.example.com",
  ]);
});

// The four cases of etcd's TestPeerURLsMapAndTokenFromSRV.
Deno.test("initialClusterFromSrv: etcd's PeerURLsMapAndToken cases", async () => {
  const hosts = {
    "1.example.com": ["10.0.1.1"],
    "2.example.com": ["10.0.1.2"],
    "3.example.com": ["10.0.1.3"],
  };
  const o = (ap: string) =>
    opts({ name: "1.example.com", advertisePeerUrls: [new URL(ap)], domain: "example.com" });
  const ssl = "_etcd-server-ssl._tcp.example.com";
  const plain = "_etcd-server._tcp.example.com";
  const all = [srvOf("1.example.com"), srvOf("2.example.com"), srvOf("3.example.com")];

  await assert.rejects(
    initialClusterFromSrv(fakeResolver({}, hosts), o("http://10.0.1.1:2380")),
    SrvDiscoveryError,
  );
  assert.equal(
    clusterText(
      await initialClusterFromSrv(
        fakeResolver({ [ssl]: all }, hosts),
        o("https://1.example.com:2380"),
      ),
    ),
    "0=https://2.example.com:2380,1.example.com=https://1.example.com:2380,1=https://3.example.com:2380",
  );
  assert.equal(
    clusterText(
      await initialClusterFromSrv(
        fakeResolver({ [ssl]: [all[0]], [plain]: [all[1], all[2]] }, hosts),
        o("https://1.example.com:2380"),
      ),
    ),
    "0=http://2.example.com:2380,1.example.com=https://1.example.com:2380,1=http://3.example.com:2380",
  );
  assert.equal(
    clusterText(
      await initialClusterFromSrv(
        fakeResolver({ [plain]: all }, hosts),
        o("http://1.example.com:2380"),
      ),
    ),
    "0=http://2.example.com:2380,1.example.com=http://1.example.com:2380,1=http://3.example.com:2380",
  );
});

Deno.test("initialClusterFromSrv: no records under either service gives both lookup errors", async () => {
  await assert.rejects(
    initialClusterFromSrv(fakeResolver({}, HOSTS), opts()),
    new SrvDiscoveryError(
      "error setting up initial cluster: " +
        "error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl._tcp.example.com on 10.0.0.53:53: no such host; " +
        "error querying DNS SRV records for _etcd-server lookup _etcd-server._tcp.example.com on 10.0.0.53:53: no such host",
    ),
  );
});

Deno.test("initialClusterFromSrv: a member missing from the records is refused", async () => {
  const r = fakeResolver({
    "_etcd-server._tcp.example.com": [srvOf("m1.example.com"), srvOf("m2.example.com")],
  }, HOSTS);
  await assert.rejects(
    initialClusterFromSrv(r, opts()),
    new SrvDiscoveryError(
      'error setting up initial cluster: cannot find local etcd member "m0" in SRV records',
    ),
  );
});

Deno.test("initialClusterFromSrv: a host under both services keeps both URLs under one name", async () => {
  // etcd numbers each service from 0 and its URL map merges equal names.
  const r = fakeResolver({
    "_etcd-server-ssl._tcp.example.com": [srvOf("m1.example.com", 2381)],
    "_etcd-server._tcp.example.com": [srvOf("m0.example.com"), srvOf("m1.example.com")],
  }, HOSTS);
  const cluster = await initialClusterFromSrv(r, opts());
  assert.equal(
    clusterText(cluster),
    "0=http://m1.example.com:2380,0=https://m1.example.com:2381,m0=http://m0.example.com:2380",
  );
});

Deno.test("initialClusterFromSrv: logs what each service found and a warning for a failed one", async () => {
  const lines: string[] = [];
  const log = {
    debug: () => {},
    info: (msg: string, f?: Record<string, unknown>) =>
      lines.push(`info ${msg} ${JSON.stringify(f)}`),
    warn: (msg: string, f?: Record<string, unknown>) =>
      lines.push(`warn ${msg} ${JSON.stringify(f)}`),
    error: () => {},
    enabled: () => true,
    with() {
      return this;
    },
  };
  const r = fakeResolver({ "_etcd-server._tcp.example.com": [srvOf("m0.example.com")] }, HOSTS);
  await initialClusterFromSrv(r, opts(), log);
  assert.match(lines[0], /^info get cluster for etcd-server-ssl SRV .*"error":"error querying/);
  assert.match(lines[1], /^info get cluster for etcd-server SRV .*"found-cluster":\["m0=http/);
  assert.match(lines[2], /^warn failed to resolve during SRV discovery /);
  assert.match(lines[3], /^info got bootstrap from DNS for etcd-server \{"node":"m0=http/);
});

Deno.test("urlsEqualResolved: equal as written, or once host names are resolved", async () => {
  const r = fakeResolver({}, { ...HOSTS, localhost: ["127.0.0.1"] });
  const u = (s: string) => new URL(s);
  assert.ok(
    await urlsEqualResolved(r, [u("http://10.0.0.1:2380")], [u("http://m0.example.com:2380")]),
  );
  assert.ok(
    !await urlsEqualResolved(r, [u("http://10.0.0.1:2380")], [u("http://m1.example.com:2380")]),
  );
  assert.ok(
    !await urlsEqualResolved(r, [u("http://10.0.0.1:2380")], [u("http://m0.example.com:2381")]),
  );
  assert.ok(
    !await urlsEqualResolved(r, [u("https://10.0.0.1:2380")], [u("http://m0.example.com:2380")]),
  );
  // etcd leaves "localhost" unresolved, so it only matches itself.
  assert.ok(
    !await urlsEqualResolved(r, [u("http://127.0.0.1:2380")], [u("http://localhost:2380")]),
  );
  assert.ok(await urlsEqualResolved(r, [u("http://localhost:2380")], [u("http://localhost:2380")]));
  assert.ok(
    !await urlsEqualResolved(r, [u("http://10.0.0.1:2380")], [
      u("http://m0.example.com:2380"),
      u("http://m1.example.com:2380"),
    ]),
  );
  assert.ok(
    !await urlsEqualResolved(r, [u("http://gone.example.com:2380")], [u("http://10.0.0.1:2380")]),
  );
});
