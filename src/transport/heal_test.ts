/**
 * A healed partition: connections that lived through it are stuck, and a
 * peer reaching us again is the cue to replace ours at once, long before a
 * PING or connect timeout would.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { app, type Harness, startHarness, waitFor } from "./test_util.ts";

/**
 * A TCP relay to `port` whose connections can be frozen: bytes stop flowing
 * and nothing is reset, as when a network link goes down.
 */
async function startRelay(port: number) {
  const frozen = new Set<net.Socket>();
  const sockets: net.Socket[] = [];
  let freezeNew = false;
  const server = net.createServer((down) => {
    const up = net.connect(port, "127.0.0.1");
    sockets.push(down, up);
    if (freezeNew) frozen.add(down);
    for (const [from, to] of [[down, up], [up, down]]) {
      from.on("error", () => {});
      from.on("data", (d) => {
        if (!frozen.has(down)) to.write(d);
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Freezes every connection made so far (and later ones too, if `alsoNew`). */
    freeze(alsoNew = false) {
      for (let i = 0; i < sockets.length; i += 2) frozen.add(sockets[i]);
      freezeNew = alsoNew;
    },
    /** Lets connections made from now on through; frozen ones stay frozen. */
    thawNew() {
      freezeNew = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Timers long enough that only the peer being heard can explain a quick recovery. */
const SLOW = { pingIntervalMs: 20, pingTimeoutMs: 60_000, connectTimeoutMs: 60_000 };

async function stopAll(hs: Harness[]): Promise<void> {
  await Promise.all(hs.map((h) => h.t.stop()));
}

Deno.test("transport heal: a connection stuck through a partition is replaced once the peer reaches us", async () => {
  const a = await startHarness(1n, { limits: SLOW });
  const b = await startHarness(2n);
  const relay = await startRelay(b.t.addresses[0].port);
  try {
    a.t.setPeer(2n, [relay.url]);
    b.t.setPeer(1n, [a.url]);
    await waitFor(() => a.t.isActive(2n) && b.t.isActive(1n), "both active");
    // A healthy connection is left alone when the peer talks to us.
    b.t.send([app(2n, 1n, 1)]);
    a.t.send([app(1n, 2n, 1)]);
    await waitFor(() => a.received.length === 1 && b.received.length === 1, "delivered");
    await new Promise((r) => setTimeout(r, 150));
    b.t.send([app(2n, 1n, 2)]);
    await waitFor(() => a.received.length === 2, "delivered again");
    assert.deepEqual(a.unreachable, []);

    relay.freeze();
    // Long enough for a PING to go unanswered and for b to fall silent.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(a.t.isActive(2n), "the PING timeout cannot have noticed yet");
    const t0 = performance.now();
    // b keeps talking, as a leader's heartbeats do: on a loaded machine the
    // first frame can arrive before a's PING has been outstanding for long
    // enough to count as lost, and a single frame then proves nothing.
    let next = 3;
    const talk = setInterval(() => b.t.send([app(2n, 1n, next++)]), 50);
    try {
      // Bounds well below the 60 s timeouts, loose enough for a loaded 2-core machine.
      await waitFor(() => a.unreachable.length === 1, "stuck connection dropped", 10_000);
    } finally {
      clearInterval(talk);
    }
    assert.ok(a.logs.some((l) => l.includes("PING unanswered while the peer reaches us")));
    await waitFor(() => a.t.isActive(2n), "reconnected through the relay", 10_000);
    a.t.send([app(1n, 2n, 4)]);
    await waitFor(() => b.received.some((m) => m.index === 4), "delivered after the heal", 10_000);
    assert.ok(performance.now() - t0 < 20_000, "far sooner than any timeout (60 s)");
  } finally {
    await stopAll([a, b]);
    await relay.close();
  }
});

Deno.test("transport heal: an attempt lost in the partition is restarted once the peer reaches us", async () => {
  const b = await startHarness(2n);
  const c = await startHarness(3n, { limits: SLOW });
  const relay = await startRelay(b.t.addresses[0].port);
  try {
    relay.freeze(true);
    c.t.setPeer(2n, [relay.url]);
    c.t.send([app(3n, 2n, 1)]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.t.isActive(2n), false, "the attempt hangs in the silence");
    relay.thawNew();
    b.t.setPeer(3n, [c.url]);
    b.t.send([app(2n, 3n, 1)]);
    await waitFor(() => c.t.isActive(2n), "a fresh attempt gets through", 2000);
    assert.deepEqual(c.unreachable, [2n], "the message queued for the lost attempt is reported");
    c.t.send([app(3n, 2n, 2)]);
    await waitFor(() => b.received.some((m) => m.index === 2), "delivered", 2000);
  } finally {
    await stopAll([b, c]);
    await relay.close();
  }
});

Deno.test("transport heal: our own stalled event loop does not count as a silent peer", async () => {
  const a = await startHarness(1n, { limits: { pingIntervalMs: 20, pingTimeoutMs: 100 } });
  const b = await startHarness(2n);
  try {
    a.t.setPeer(2n, [b.url]);
    await waitFor(() => a.t.isActive(2n), "active");
    // Stalls longer than the PING timeout, starting at varied moments: some
    // begin right after a PING went out, before its answer was read. The
    // shorter default timeout (2 s) relies on this.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, i % 7));
      const until = performance.now() + 150;
      while (performance.now() < until) { /* a long synchronous task */ }
    }
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(a.t.isActive(2n));
    assert.deepEqual(a.unreachable, [], "no PING timeout after the stalls");
  } finally {
    await stopAll([a, b]);
  }
});
