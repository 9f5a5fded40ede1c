/**
 * sd_notify with a real NOTIFY_SOCKET: the test binds a unix datagram
 * socket, starts cairn with NOTIFY_SOCKET pointing at it, and expects
 * READY=1 once the client port answers, and STOPPING=1 on SIGTERM. The
 * first member of a new three-member cluster, whose peers are not
 * started, is ready too (etcd issue 13526: etcd 3.5 would wait for a
 * quorum and be killed by systemd's start timeout).
 */
import assert from "node:assert/strict";
import { Member } from "./harness/member.ts";
import { NotifySocket } from "./harness/notify_socket.ts";
import { freePort } from "./harness/ports.ts";
import { cairnIsEtcd } from "./harness/tools.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "systemd: READY=1 when clients are served, STOPPING=1 on SIGTERM",
  ignore: !linux || cairnIsEtcd(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cairn-notify-" });
    const sock = NotifySocket.open(dir);
    const m = await Member.create({ kind: "cairn", env: { NOTIFY_SOCKET: sock.path } });
    try {
      m.launch();
      const ready = await sock.waitFor("READY=1", 30_000);
      assert.match(ready, /^STATUS=serving clients; /m);
      // Ready means served: the client port answers at once.
      const res = await fetch(`${m.clientUrl}/livez`);
      assert.equal(res.status, 200, await res.text());
      assert.ok(!sock.messages.some((msg) => msg.includes("STOPPING=1")));
      await m.stop(10_000);
      await sock.waitFor("STOPPING=1", 1000);
      assert.equal(m.exitStatus?.code, 0);
      assert.match(await m.stderrText(), /successfully notified init daemon/);
    } finally {
      await m.destroy();
      sock.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "systemd: the first member of a new cluster is ready before its peers start",
  ignore: !linux || cairnIsEtcd(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cairn-notify-" });
    const sock = NotifySocket.open(dir);
    const m = await Member.create({ kind: "cairn", name: "m1", env: { NOTIFY_SOCKET: sock.path } });
    try {
      // Two peers that are never started: no quorum, no leader.
      const peers = [2, 3].map((i) => `m${i}=http://127.0.0.1:${freePort()}`);
      m.options.cluster = {
        initialCluster: [`m1=${m.peerUrl}`, ...peers].join(","),
        token: `notify-${m.clientPort}`,
      };
      m.launch();
      const ready = await sock.waitFor("READY=1", 30_000);
      assert.match(ready, /^STATUS=serving clients; waiting for a leader$/m);
      assert.equal((await fetch(`${m.clientUrl}/livez`)).status, 200);
      const readyz = await fetch(`${m.clientUrl}/readyz/linearizable_read`);
      await readyz.body?.cancel();
      assert.equal(readyz.status, 503);
    } finally {
      await m.destroy();
      sock.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
