/**
 * Auth on real 3-member clusters: auth state survives SIGKILL of the
 * leader, a full restart and a snapshot (a small --snapshot-count); a
 * simple token issued by one member works on the others; a JWT signed by
 * one member works on every member, including one given only the public
 * key (which verifies tokens but cannot sign them).
 */
import assert from "node:assert/strict";
import {
  RangeRequestSchema,
  RangeResponseSchema,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { AuthClient, b, GrpcError } from "./harness/auth_client.ts";
import { destroyAll, startCluster } from "./harness/cluster.ts";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("auth_cluster_test.ts");
const ROOT = "--user=root:rootpw";

/** Users root and alice (READ on prefix "a/"), keys a/1 and secret, auth enabled. */
async function setUp(m: Member): Promise<void> {
  const ctl = (...args: string[]) => etcdctlOk(m.endpoint, args);
  await ctl("user", "add", "root:rootpw");
  await ctl("role", "add", "root");
  await ctl("user", "grant-role", "root", "root");
  await ctl("user", "add", "alice:alicepw");
  await ctl("role", "add", "ra");
  await ctl("role", "grant-permission", "ra", "read", "a/", "--prefix=true");
  await ctl("user", "grant-role", "alice", "ra");
  await ctl("put", "a/1", "one");
  await ctl("put", "secret", "s");
  await ctl("auth", "enable");
}

/**
 * Waits until every running member names the same running leader (asking
 * as root) and returns it; with `anyLeader`, agreeing on a leader that is
 * not among `members` is enough (and yields undefined).
 */
async function leaderOf(
  members: Member[],
  timeoutMs = 20_000,
  anyLeader = false,
): Promise<Member | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const live = members.filter((m) => m.running);
    const views = await Promise.all(live.map(async (m) => {
      const res = await etcdctl(m.endpoint, ["endpoint", "status", "-w=json", ROOT]);
      if (res.code !== 0) return undefined;
      // Member ids are uint64: read them as text, not as JSON numbers.
      const id = /"member_id":(\d+)/.exec(res.stdout)?.[1];
      const leader = /"leader":(\d+)/.exec(res.stdout)?.[1];
      return id && leader ? { m, id, leader } : undefined;
    }));
    const leaders = new Set(views.map((v) => v?.leader));
    if (leaders.size === 1 && !leaders.has(undefined) && !leaders.has("0")) {
      const found = views.find((v) => v!.id === [...leaders][0]);
      if (found) return found.m;
      if (anyLeader) return undefined;
    }
    last = views.map((v) => `${v?.m.name ?? "?"}->${v?.leader ?? "-"}`).join(" ");
    await sleep(200);
  }
  throw new Error(`no single leader within ${timeoutMs} ms: ${last}`);
}

/** What `user` sees of `key` on member `m` (etcdctl logs in there). */
async function getAs(m: Member, user: string, key: string) {
  return await etcdctl(m.endpoint, ["get", key, `--user=${user}`]);
}

/** Asserts the auth rules hold on `m`: alice reads a/1, not secret; no credentials, nothing. */
async function assertEnforced(m: Member, label: string): Promise<void> {
  const ok = await getAs(m, "alice:alicepw", "a/1");
  assert.equal(ok.code, 0, `${label}: alice reads a/1 on ${m.name}: ${ok.stderr}`);
  assert.match(ok.stdout, /^a\/1\none\n$/);
  const denied = await getAs(m, "alice:alicepw", "secret");
  assert.notEqual(denied.code, 0, `${label}: alice must not read secret on ${m.name}`);
  assert.match(denied.stderr, /etcdserver: permission denied/);
  const anon = await etcdctl(m.endpoint, ["get", "a/1"]);
  assert.match(anon.stderr, /etcdserver: user name is empty/, `${label}: no credentials`);
  const root = await getAs(m, "root:rootpw", "secret");
  assert.equal(root.code, 0, `${label}: root reads secret on ${m.name}`);
}

const range = (c: AuthClient, key: string) =>
  c.call("/etcdserverpb.KV/Range", RangeRequestSchema, { key: b(key) }, RangeResponseSchema);

Deno.test({
  name: "auth cluster: a simple token from one member works on the others; " +
    "auth survives SIGKILL of the leader, a snapshot and a full restart",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const members = await startCluster(3, ["--log-level=warn", "--snapshot-count=30"]);
    const clients: AuthClient[] = [];
    try {
      await setUp(members[0]);
      await leaderOf(members);
      // A token issued by m1 is known to m2 and m3 (they applied its entry).
      const a1 = new AuthClient(members[0].clientUrl);
      clients.push(a1);
      const token = await a1.login("alice", "alicepw");
      assert.match(token, /^[a-zA-Z]{16}\.\d+$/);
      for (const m of members.slice(1)) {
        const c = new AuthClient(m.clientUrl, token);
        clients.push(c);
        const resp = await range(c, "a/1");
        assert.equal(new TextDecoder().decode(resp.kvs[0].value), "one", m.name);
        await assert.rejects(
          range(c, "secret"),
          (e: unknown) => e instanceof GrpcError && e.code === 7,
        );
      }

      // Enough writes for every member to take a snapshot holding the auth state.
      for (let i = 0; i < 40; i++) {
        await etcdctlOk(members[i % 3].endpoint, ["put", `a/k${i}`, "v", ROOT]);
      }

      const leader = (await leaderOf(members))!;
      await leader.kill();
      const survivors = members.filter((m) => m !== leader);
      await leaderOf(survivors);
      for (const m of survivors) await assertEnforced(m, "after SIGKILL of the leader");
      leader.launch();
      await leader.waitHealthy();
      await leaderOf(members);
      await assertEnforced(leader, "the killed leader, restarted");

      // Full restart: users, roles and the enabled flag come back; tokens do not.
      for (const m of members) await m.stop();
      for (const m of members) m.launch();
      await Promise.all(members.map((m) => m.waitHealthy()));
      await leaderOf(members);
      for (const m of members) await assertEnforced(m, "after a full restart");
      const stale = new AuthClient(members[1].clientUrl, token);
      clients.push(stale);
      await assert.rejects(
        range(stale, "a/1"),
        (e: unknown) =>
          e instanceof GrpcError && e.code === 16 && /invalid auth token/.test(e.message),
      );
      const roles = await etcdctlOk(members[2].endpoint, ["user", "get", "alice", ROOT]);
      assert.equal(roles, "User: alice\nRoles: ra\n");
    } finally {
      for (const c of clients) c.close();
      await destroyAll(members);
    }
  },
});

Deno.test({
  name: "auth cluster: a JWT signed by one member works on every member; " +
    "a member with only the public key verifies but cannot sign",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cairn-jwt-" });
    const priv = `${dir}/jwt.key`;
    const pub = `${dir}/jwt.pub`;
    for (
      const args of [
        ["genrsa", "-out", priv, "2048"],
        ["rsa", "-in", priv, "-pubout", "-out", pub],
      ]
    ) {
      const out = await new Deno.Command("openssl", { args, stderr: "null" }).output();
      assert.ok(out.success, `openssl ${args.join(" ")}`);
    }
    const signing = `--auth-token=jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,ttl=10m`;
    const verifying = `--auth-token=jwt,pub-key=${pub},sign-method=RS256`;
    const members: Member[] = [];
    for (let i = 1; i <= 3; i++) {
      members.push(
        await Member.create({
          kind: "cairn",
          name: `m${i}`,
          extraArgs: ["--log-level=warn", i === 3 ? verifying : signing],
        }),
      );
    }
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    for (const m of members) {
      m.options.cluster = { initialCluster, token: `jwt-${members[0].clientPort}` };
    }
    for (const m of members) m.launch();
    const clients: AuthClient[] = [];
    try {
      await Promise.all(members.map((m) => m.waitHealthy(30_000)));
      await setUp(members[0]);
      // etcdctl cannot log in on m3 (it cannot sign): ask the two others,
      // which may well agree that m3 leads.
      await leaderOf(members.slice(0, 2), 20_000, true);
      const signer = new AuthClient(members[1].clientUrl);
      clients.push(signer);
      const token = await signer.login("alice", "alicepw");
      const [, payload] = token.split(".");
      const claims = JSON.parse(new TextDecoder().decode(
        Uint8Array.from(
          atob(payload.replace(/-/g, "+").replace(/_/g, "/")),
          (c) => c.charCodeAt(0),
        ),
      ));
      assert.equal(claims.username, "alice");
      assert.equal(typeof claims.revision, "number");
      assert.ok(claims.exp > Date.now() / 1000 + 500, "ttl=10m");
      for (const m of members) {
        const c = new AuthClient(m.clientUrl, token);
        clients.push(c);
        const resp = await range(c, "a/1");
        assert.equal(resp.kvs.length, 1, `${m.name} accepts the JWT`);
        await assert.rejects(
          range(c, "secret"),
          (e: unknown) => e instanceof GrpcError && e.code === 7,
        );
      }
      const forged = new AuthClient(members[0].clientUrl, token.slice(0, -4) + "AAAA");
      clients.push(forged);
      await assert.rejects(
        range(forged, "a/1"),
        (e: unknown) => e instanceof GrpcError && e.code === 16,
      );
      const verifyOnly = new AuthClient(members[2].clientUrl);
      clients.push(verifyOnly);
      await assert.rejects(
        verifyOnly.login("alice", "alicepw"),
        (e: unknown) =>
          e instanceof GrpcError &&
          e.message.includes("auth: token signing attempted with verify-only key"),
      );
      // An auth change makes every earlier JWT stale, as etcd's revision claim does.
      await etcdctlOk(members[0].endpoint, ["role", "add", "later", ROOT]);
      const c = new AuthClient(members[2].clientUrl, token);
      clients.push(c);
      await assert.rejects(
        range(c, "a/1"),
        (e: unknown) => e instanceof GrpcError && /revision of auth store is old/.test(e.message),
      );
    } finally {
      for (const c of clients) c.close();
      await destroyAll(members);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
