/**
 * etcd's peer-traffic families (rafthttp): bytes and failures each way,
 * disconnections, and snapshot transfers, labelled by the remote member's
 * id in hexadecimal (`To` for what this member sends, `From` for what it
 * receives, `Local`/`Remote` for connections), as etcd labels them. The
 * Grafana dashboard's "Peer Traffic In/Out" panels sum the byte counters.
 *
 * The transport reports through {@link PeerTrafficStats}; the series of
 * each peer are bound on its first report and kept, so a report costs a
 * map lookup by id and a few additions.
 *
 * @module
 */
import {
  Counter,
  type CounterChild,
  exponentialBuckets,
  Gauge,
  type GaugeChild,
  Histogram,
  type HistogramChild,
  type Registry,
} from "./registry.ts";

/** What the peer transport reports (the remote member is `peer` in every call). */
export interface PeerTrafficStats {
  /** A frame of Raft messages, or a chunk of a snapshot, of `bytes` went to `peer`. */
  sent(peer: bigint, bytes: number): void;
  /** A frame of Raft messages, or a snapshot, of `bytes` came from `peer`. */
  received(peer: bigint, bytes: number): void;
  /** Something `peer` sent could not be read or was refused. */
  receiveFailed(peer: bigint): void;
  /** The message stream to `peer`, once up, went down. */
  disconnected(peer: bigint): void;
  /** A snapshot transfer to `peer` started; {@link snapshotSent} ends it. */
  snapshotSending(peer: bigint): void;
  /** A snapshot transfer to `peer` ended after `seconds`. */
  snapshotSent(peer: bigint, ok: boolean, seconds: number): void;
  /** A snapshot from `peer` started arriving; {@link snapshotReceived} ends it. */
  snapshotReceiving(peer: bigint): void;
  /** A snapshot from `peer` ended (verified and handed over, or refused) after `seconds`. */
  snapshotReceived(peer: bigint, ok: boolean, seconds: number): void;
}

/** Snapshot transfers take 0.1 s to about a minute: etcd's buckets. */
const SNAPSHOT_BUCKETS = exponentialBuckets(0.1, 2, 10);

/** The snapshot series of one peer and direction, bound at its first transfer (as etcd shows them). */
interface SnapshotSeries {
  ok: CounterChild;
  failed: CounterChild;
  inflight: GaugeChild;
  seconds: HistogramChild;
}

interface SendSeries {
  bytes: CounterChild;
  snapshot?: SnapshotSeries;
}

interface ReceiveSeries {
  bytes: CounterChild;
  failures: CounterChild;
  snapshot?: SnapshotSeries;
}

/** The rafthttp families of one member, fed by its transport. */
export class PeerTrafficMetrics implements PeerTrafficStats {
  readonly sentBytes: Counter;
  readonly receivedBytes: Counter;
  readonly receivedFailures: Counter;
  readonly disconnectedPeers: Counter;
  readonly #snapshotSend: Counter;
  readonly #snapshotSendFailures: Counter;
  readonly #snapshotSendInflights: Gauge;
  readonly #snapshotSendSeconds: Histogram;
  readonly #snapshotReceive: Counter;
  readonly #snapshotReceiveFailures: Counter;
  readonly #snapshotReceiveInflights: Gauge;
  readonly #snapshotReceiveSeconds: Histogram;
  readonly #to = new Map<bigint, SendSeries>();
  readonly #from = new Map<bigint, ReceiveSeries>();
  #local = "0";

  constructor(reg: Registry) {
    const to = ["To"];
    const from = ["From"];
    this.sentBytes = new Counter(reg, {
      name: "etcd_network_peer_sent_bytes_total",
      help: "Bytes of Raft messages and snapshots sent to each peer.",
      labelNames: to,
    });
    this.receivedBytes = new Counter(reg, {
      name: "etcd_network_peer_received_bytes_total",
      help: "Bytes of Raft messages and snapshots received from each peer.",
      labelNames: from,
    });
    this.receivedFailures = new Counter(reg, {
      name: "etcd_network_peer_received_failures_total",
      help: "Frames or snapshots from each peer that could not be read or were refused.",
      labelNames: from,
    });
    this.disconnectedPeers = new Counter(reg, {
      name: "etcd_network_disconnected_peers_total",
      help: "Times the message stream to a peer went down.",
      labelNames: ["Local", "Remote"],
    });
    this.#snapshotSend = new Counter(reg, {
      name: "etcd_network_snapshot_send_success",
      help: "Snapshots sent to each peer and accepted by it.",
      labelNames: to,
    });
    this.#snapshotSendFailures = new Counter(reg, {
      name: "etcd_network_snapshot_send_failures",
      help: "Snapshot transfers to each peer that failed.",
      labelNames: to,
    });
    this.#snapshotSendInflights = new Gauge(reg, {
      name: "etcd_network_snapshot_send_inflights_total",
      help: "Snapshot transfers to each peer under way.",
      labelNames: to,
    });
    this.#snapshotSendSeconds = new Histogram(reg, {
      name: "etcd_network_snapshot_send_total_duration_seconds",
      help: "Duration of snapshot transfers to each peer, in seconds.",
      labelNames: to,
      buckets: SNAPSHOT_BUCKETS,
    });
    this.#snapshotReceive = new Counter(reg, {
      name: "etcd_network_snapshot_receive_success",
      help: "Snapshots received from each peer, verified and handed to the member.",
      labelNames: from,
    });
    this.#snapshotReceiveFailures = new Counter(reg, {
      name: "etcd_network_snapshot_receive_failures",
      help: "Snapshot transfers from each peer that failed or were refused.",
      labelNames: from,
    });
    this.#snapshotReceiveInflights = new Gauge(reg, {
      name: "etcd_network_snapshot_receive_inflights_total",
      help: "Snapshot transfers from each peer under way.",
      labelNames: from,
    });
    this.#snapshotReceiveSeconds = new Histogram(reg, {
      name: "etcd_network_snapshot_receive_total_duration_seconds",
      help: "Duration of snapshot transfers from each peer, in seconds.",
      labelNames: from,
      buckets: SNAPSHOT_BUCKETS,
    });
  }

  /** This member's id, the `Local` label of disconnections. */
  setLocal(id: bigint): void {
    this.#local = id.toString(16);
  }

  sent(peer: bigint, bytes: number): void {
    this.#toSeries(peer).bytes.value += bytes;
  }

  received(peer: bigint, bytes: number): void {
    this.#fromSeries(peer).bytes.value += bytes;
  }

  receiveFailed(peer: bigint): void {
    this.#fromSeries(peer).failures.value++;
  }

  disconnected(peer: bigint): void {
    this.disconnectedPeers.labels(this.#local, peer.toString(16)).inc();
  }

  snapshotSending(peer: bigint): void {
    this.#sendSnapshots(peer).inflight.inc();
  }

  snapshotSent(peer: bigint, ok: boolean, seconds: number): void {
    ended(this.#sendSnapshots(peer), ok, seconds);
  }

  snapshotReceiving(peer: bigint): void {
    this.#receiveSnapshots(peer).inflight.inc();
  }

  snapshotReceived(peer: bigint, ok: boolean, seconds: number): void {
    ended(this.#receiveSnapshots(peer), ok, seconds);
  }

  #sendSnapshots(peer: bigint): SnapshotSeries {
    const s = this.#toSeries(peer);
    const id = peer.toString(16);
    return s.snapshot ??= {
      ok: this.#snapshotSend.labels(id),
      failed: this.#snapshotSendFailures.labels(id),
      inflight: this.#snapshotSendInflights.labels(id),
      seconds: this.#snapshotSendSeconds.labels(id),
    };
  }

  #receiveSnapshots(peer: bigint): SnapshotSeries {
    const s = this.#fromSeries(peer);
    const id = peer.toString(16);
    return s.snapshot ??= {
      ok: this.#snapshotReceive.labels(id),
      failed: this.#snapshotReceiveFailures.labels(id),
      inflight: this.#snapshotReceiveInflights.labels(id),
      seconds: this.#snapshotReceiveSeconds.labels(id),
    };
  }

  #toSeries(peer: bigint): SendSeries {
    let s = this.#to.get(peer);
    if (s === undefined) {
      const id = peer.toString(16);
      s = { bytes: this.sentBytes.labels(id) };
      this.#to.set(peer, s);
    }
    return s;
  }

  #fromSeries(peer: bigint): ReceiveSeries {
    let s = this.#from.get(peer);
    if (s === undefined) {
      const id = peer.toString(16);
      s = { bytes: this.receivedBytes.labels(id), failures: this.receivedFailures.labels(id) };
      this.#from.set(peer, s);
    }
    return s;
  }
}

function ended(s: SnapshotSeries, ok: boolean, seconds: number): void {
  s.inflight.dec();
  (ok ? s.ok : s.failed).inc();
  s.seconds.observe(seconds);
}
