import assert from "node:assert/strict";
import { PeerTrafficMetrics } from "./peer.ts";
import { Registry } from "./registry.ts";

Deno.test("peer metrics: bytes each way by peer id in hex, as etcd labels them", async () => {
  const reg = new Registry();
  const m = new PeerTrafficMetrics(reg);
  m.sent(0xabcn, 100);
  m.sent(0xabcn, 20);
  m.received(0x1fn, 7);
  m.receiveFailed(0x1fn);
  const text = await reg.render();
  assert.match(text, /^etcd_network_peer_sent_bytes_total\{To="abc"\} 120$/m);
  assert.match(text, /^etcd_network_peer_received_bytes_total\{From="1f"\} 7$/m);
  assert.match(text, /^etcd_network_peer_received_failures_total\{From="1f"\} 1$/m);
  // Snapshot series appear with the first transfer, as etcd's do.
  assert.doesNotMatch(text, /^etcd_network_snapshot_/m);
});

Deno.test("peer metrics: disconnections name both ends; snapshot transfers count, time and track inflight", async () => {
  const reg = new Registry();
  const m = new PeerTrafficMetrics(reg);
  m.setLocal(0x1n);
  m.disconnected(0x2n);
  m.snapshotSending(0x2n);
  let text = await reg.render();
  assert.match(text, /^etcd_network_disconnected_peers_total\{Local="1",Remote="2"\} 1$/m);
  assert.match(text, /^etcd_network_snapshot_send_inflights_total\{To="2"\} 1$/m);
  m.snapshotSent(0x2n, true, 0.3);
  m.snapshotReceiving(0x3n);
  m.snapshotReceived(0x3n, false, 1.5);
  text = await reg.render();
  assert.match(text, /^etcd_network_snapshot_send_inflights_total\{To="2"\} 0$/m);
  assert.match(text, /^etcd_network_snapshot_send_success\{To="2"\} 1$/m);
  assert.match(text, /^etcd_network_snapshot_send_failures\{To="2"\} 0$/m);
  assert.match(
    text,
    /^etcd_network_snapshot_send_total_duration_seconds_bucket\{To="2",le="0.4"\} 1$/m,
  );
  assert.match(text, /^etcd_network_snapshot_receive_failures\{From="3"\} 1$/m);
  assert.match(text, /^etcd_network_snapshot_receive_success\{From="3"\} 0$/m);
  assert.match(text, /^etcd_network_snapshot_receive_total_duration_seconds_sum\{From="3"\} 1.5$/m);
});
