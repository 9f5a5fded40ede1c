/**
 * The peer port against a hostile or broken peer, on a real 3-member cairn
 * cluster (requests written by hand with cairn's own HTTP/2 client, or
 * frame by frame for the flood):
 *
 * 1. A stream from an id that is no member is refused with etcd's 404
 *    "error sender not found", and logged.
 * 2. A malformed frame, or a message naming another sender, on a stream
 *    claiming the leader's id is refused (the stream is reset) and the
 *    member lives: it keeps serving etcdctl.
 * 3. A snapshot claiming 16 GiB, followed by 512 MiB of zeros that ignore
 *    the refusal, is refused with 413 and the member's RSS barely moves
 *    (before, the claim was allocated and every byte accepted).
 * 4. A MsgApp forged with the leader's id and term that rewrites an entry
 *    the follower has committed stops that follower at once: exit status 2
 *    (a Go panic's, as etcd panics) and a log line naming the invariant,
 *    while the other two keep serving every acknowledged write.
 *
 * cairn's peer protocol is its own, so none of this runs with CAIRN_CMD=etcd.
 */
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Maintenance } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { encodeHeaders } from "../src/http/h2/hpack.ts";
import { RawClient, rawFrame, T } from "../src/http/h2/test_raw_client.ts";
import { EntryType, MessageType, newMessage } from "../src/raft/types.ts";
import { encodeFrame } from "../src/transport/codec.ts";
import {
  ERR_SENDER_NOT_FOUND,
  formatId,
  H_CLUSTER_ID,
  H_FROM,
  H_SNAPSHOT_CRC,
  H_SNAPSHOT_SIZE,
  H_TO,
  PATH_SNAPSHOT,
  PATH_STREAM,
} from "../src/transport/protocol.ts";
import { peerHeaders, rawPeerRequest } from "../src/transport/test_util.ts";
import { destroyAll, startCluster, waitForLeader } from "./harness/cluster.ts";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { Member, sleep } from "./harness/member.ts";
import { cairnIsEtcd, skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("peer_safety_test.ts") || cairnIsEtcd();

/** What Maintenance.Status says about one member. */
interface Status {
  memberId: bigint;
  clusterId: bigint;
  leader: bigint;
  commit: number;
  term: number;
}

async function status(m: Member): Promise<Status> {
  const client = createClient(Maintenance, createGrpcTransport({ baseUrl: m.clientUrl }));
  const s = await client.status({}, { timeoutMs: 3000 });
  return {
    memberId: s.header!.memberId,
    clusterId: s.header!.clusterId,
    leader: s.leader,
    commit: Number(s.raftIndex),
    term: Number(s.raftTerm),
  };
}

/** Resident set size of a process, in bytes (Linux). */
function rss(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(text)?.[1]);
  assert.ok(Number.isFinite(kb), "VmRSS readable");
  return kb * 1024;
}

/** Waits until `cond` holds, polling; fails with `what` after `ms`. */
async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The member is alive and serves a write and a linearizable read through itself. */
async function servesClients(m: Member, key: string): Promise<void> {
  assert.ok(m.running, `${m.name} is running`);
  await etcdctlOk(m.endpoint, ["put", key, "still-here"]);
  assert.match(await etcdctlOk(m.endpoint, ["get", key]), /still-here/);
}

Deno.test({
  name:
    "peer safety: strangers and malformed peer input are refused, a forged committed entry stops the member",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const members = await startCluster(3);
  try {
    const leader = await waitForLeader(members);
    const [victim, target] = members.filter((m) => m !== leader);
    await etcdctlOk(leader.endpoint, ["put", "acked", "before-the-attacks"]);
    const ls = await status(leader);
    const vs = await status(victim);
    const targetId = (await status(target)).memberId;
    const cluster = ls.clusterId;

    await t.step("a stream from an id that is no member gets 404 and is logged", async () => {
      const call = await rawPeerRequest(
        victim.peerUrl,
        PATH_STREAM,
        peerHeaders(cluster, 0x5eedn, vs.memberId),
      );
      try {
        assert.deepEqual(await call.response, { status: 404, error: ERR_SENDER_NOT_FOUND });
      } finally {
        call.close();
      }
      const log = await victim.stderrText();
      assert.ok(
        log.includes("rejected peer request") && log.includes(formatId(0x5eedn)),
        "the refusal names the sender in the member's log",
      );
    });

    await t.step("a malformed or misattributed frame is refused and the member lives", async () => {
      const frames = [
        new Uint8Array([0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]), // no protobuf
        encodeFrame([newMessage({
          type: MessageType.Heartbeat,
          from: targetId, // not the stream's sender
          to: vs.memberId,
          term: ls.term,
        })]),
      ];
      for (const frame of frames) {
        const call = await rawPeerRequest(
          victim.peerUrl,
          PATH_STREAM,
          peerHeaders(cluster, ls.memberId, vs.memberId),
        );
        try {
          assert.equal((await call.response).status, 200);
          call.stream.write(frame);
          assert.equal(await call.ended, "stream reset by the server (code 1)");
        } finally {
          call.close();
        }
      }
      const log = await victim.stderrText();
      assert.equal(log.match(/refused a frame on a peer stream/g)?.length, 2);
      await servesClients(victim, "after-malformed");
    });

    await t.step(
      "a snapshot claiming 16 GiB, then 512 MiB of zeros: 413, no RSS growth",
      async () => {
        const pid = victim.pid!;
        const before = rss(pid);
        let sent = 0;
        const raw = await RawClient.connect(Number(new URL(victim.peerUrl).port));
        try {
          await raw.handshake();
          const block = encodeHeaders([
            [":method", "POST"],
            [":scheme", "http"],
            [":authority", new URL(victim.peerUrl).host],
            [":path", PATH_SNAPSHOT],
            [H_CLUSTER_ID, formatId(cluster)],
            [H_FROM, formatId(ls.memberId)],
            [H_TO, formatId(vs.memberId)],
            [H_SNAPSHOT_SIZE, String(16 * 1024 ** 3)],
            [H_SNAPSHOT_CRC, "0"],
          ]);
          await raw.write(rawFrame(T.HEADERS, 0x4, 1, block));
          // Zeros in 1 MiB writes of 16 KiB DATA frames, whatever the server says.
          const zeros = new Uint8Array(16384);
          const batch = new Uint8Array(64 * (9 + zeros.length));
          for (let i = 0; i < 64; i++) {
            batch.set(rawFrame(T.DATA, 0, 1, zeros), i * (9 + zeros.length));
          }
          try {
            while (sent < 512 * 1024 * 1024) {
              await raw.write(batch);
              sent += 64 * zeros.length;
            }
          } catch {
            // The member may close a connection that ignores its answers: also a refusal.
          }
          const answer = raw.seen.find((f) => f.type === T.HEADERS && f.streamId === 1);
          assert.ok(answer, "the member answered the snapshot request");
          const headers = raw.headers(answer);
          assert.equal(headers.get(":status"), "413");
          assert.match(headers.get("x-cairn-error") ?? "", /exceeds the limit/);
        } finally {
          await raw.close();
        }
        const grown = rss(pid) - before;
        const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
        console.log(`snapshot flood: ${mib(sent)} sent, RSS ${mib(before)} -> +${mib(grown)}`);
        assert.ok(grown < 128 * 1024 * 1024, `RSS grew by ${mib(grown)} after ${mib(sent)}`);
        await servesClients(victim, "after-snapshot-flood");
      },
    );

    await t.step(
      "a forged MsgApp rewriting a committed entry stops the follower (exit 2)",
      async () => {
        // The target knows everything is committed up to the leader's last entry.
        let ts = await status(target);
        await waitUntil(async () => {
          const [l, tt] = await Promise.all([status(leader), status(target)]);
          ts = tt;
          return l.commit === tt.commit && l.term === tt.term;
        }, "the target to catch up with the leader's commit");
        const forged = newMessage({
          type: MessageType.App,
          from: ls.memberId,
          to: ts.memberId,
          term: ts.term,
          // Anchored at the target's commit point, which matches, ...
          index: ts.commit,
          logTerm: ts.term,
          commit: ts.commit,
          // ... carrying a different entry 1 (the bootstrap entry of term 1).
          entries: [{
            index: 1,
            term: ts.term,
            type: EntryType.Normal,
            data: new TextEncoder().encode("forged"),
          }],
        });
        const call = await rawPeerRequest(
          target.peerUrl,
          PATH_STREAM,
          peerHeaders(cluster, ls.memberId, ts.memberId),
        );
        try {
          assert.equal((await call.response).status, 200);
          call.stream.write(encodeFrame([forged]));
          const exit = await target.waitExit(10_000);
          assert.ok(exit, "the target stopped");
          assert.equal(exit.code, 2, "a broken invariant exits as a panic does");
        } finally {
          call.close();
        }
        const log = await target.stderrText();
        assert.match(log, /entry 1 conflicts with committed entry \[committed\(\d+\)\]/);
        assert.match(log, /"invariant":"raft: entry 1 conflicts with committed entry/);
        // The other two still hold a quorum and every acknowledged write.
        const survivors = members.filter((m) => m !== target);
        await waitForLeader(survivors);
        for (const m of survivors) {
          assert.match(await etcdctlOk(m.endpoint, ["get", "acked"]), /before-the-attacks/);
        }
        const put = await etcdctl(leader.endpoint, ["put", "after-fail-stop", "ok"]);
        assert.equal(put.code, 0, put.stderr);
      },
    );
  } finally {
    await destroyAll(members);
  }
});

Deno.test({
  name: "peer safety: a member that missed a membership change still hears the new leader",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  // m3 is down while m4 joins and takes the lead: restarted, m3 does not
  // know m4, whose stream it refuses at first, until m1 or m2 vouch for it.
  const members = await startCluster(3);
  const [m1, m2, m3] = members;
  const m4 = await Member.create({ kind: "cairn", name: "m4" });
  members.push(m4);
  try {
    const token = m1.options.cluster!.token;
    await m3.stop();
    await waitForLeader([m1, m2]);
    const both = `${m1.endpoint},${m2.endpoint}`;
    await etcdctlOk(both, ["member", "add", "m4", `--peer-urls=${m4.peerUrl}`]);
    m4.options.cluster = {
      initialCluster: members.map((m) => `${m.name}=${m.peerUrl}`).join(","),
      token,
      state: "existing",
    };
    m4.launch();
    await m4.waitHealthy(30_000);
    const m4Id = (await status(m4)).memberId;
    await waitUntil(async () => {
      const res = await etcdctl(`${both},${m4.endpoint}`, ["move-leader", formatId(m4Id)]);
      return res.code === 0 || /already the leader/.test(res.stdout + res.stderr);
    }, "leadership to move to m4");
    assert.equal(await waitForLeader([m1, m2, m4]), m4);
    await etcdctlOk(m4.endpoint, ["put", "while-m3-was-down", "written-under-m4"]);

    m3.launch();
    await m3.waitHealthy(30_000);
    await waitUntil(async () => {
      const res = await etcdctl(m3.endpoint, [
        "get",
        "while-m3-was-down",
        "--print-value-only",
        "--consistency=s",
      ]);
      return res.stdout.trim() === "written-under-m4";
    }, "m3 to catch up from m4");
    const log = await m3.stderrText();
    assert.match(log, /rejected peer request.*error sender not found/, "m4 was unknown at first");
    assert.match(log, /admitting a member that peers list/);
    // And once caught up it knows m4 itself, as a member of the configuration.
    assert.match(await etcdctlOk(m3.endpoint, ["member", "list"]), /m4/);
  } finally {
    await destroyAll(members);
  }
});

Deno.test({
  name: "peer safety: a committed entry the state machine cannot apply stops the member (exit 2)",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const members = await startCluster(3);
  try {
    const leader = await waitForLeader(members);
    const target = members.find((m) => m !== leader)!;
    await etcdctlOk(leader.endpoint, ["put", "acked", "before"]);
    const ls = await status(leader);
    // A quiet cluster: the target holds exactly the committed log.
    let ts = await status(target);
    await waitUntil(async () => {
      const [l, t] = await Promise.all([status(leader), status(target)]);
      const settled = l.commit === t.commit && t.commit === ts.commit && l.term === t.term;
      ts = t;
      return settled;
    }, "the target to settle at the leader's commit");
    // A well-formed append of the next entry, committed at once, whose
    // request names no kind of change (id 1, origin 1, nothing else).
    // The real leader's own stream may replace ours before our frame is
    // read (a peer's newer stream closes its older connection), dropping
    // the frame: try again on a fresh stream, a few times at most.
    let exit: Deno.CommandStatus | undefined;
    for (let attempt = 0; attempt < 3 && !exit; attempt++) {
      const call = await rawPeerRequest(
        target.peerUrl,
        PATH_STREAM,
        peerHeaders(ls.clusterId, ls.memberId, ts.memberId),
      );
      try {
        assert.equal((await call.response).status, 200);
        call.stream.write(encodeFrame([newMessage({
          type: MessageType.App,
          from: ls.memberId,
          to: ts.memberId,
          term: ts.term,
          index: ts.commit,
          logTerm: ts.term,
          commit: ts.commit + 1,
          entries: [{
            index: ts.commit + 1,
            term: ts.term,
            type: EntryType.Normal,
            data: new Uint8Array([0x08, 0x01, 0x10, 0x01]),
          }],
        })]));
        exit = await target.waitExit(5_000);
      } finally {
        call.close();
      }
    }
    assert.ok(exit, "the target stopped");
    assert.equal(exit.code, 2);
    assert.match(
      await target.stderrText(),
      /"invariant":"cannot apply log entry of kind undefined"/,
    );
    const survivors = members.filter((m) => m !== target);
    await waitForLeader(survivors);
    await etcdctlOk(leader.endpoint, ["put", "after", "ok"]);
    for (const m of survivors) {
      assert.match(await etcdctlOk(m.endpoint, ["get", "acked"]), /before/);
    }
  } finally {
    await destroyAll(members);
  }
});
