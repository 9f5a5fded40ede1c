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

/** How one direction's snapshot families are named and described. */
interface SnapshotDirection {
  /** `send` or `receive`, as in `etcd_network_snapshot_send_success`. */
  verb: string;
  /** The peer's label: `To` or `From`. */
  label: string;
  /** `to` or `from`, for the help texts. */
  preposition: string;
  successHelp: string;
  failuresHelp: string;
}

/** etcd's four snapshot families of one direction (success, failures, inflights, duration). */
class SnapshotFamilies {
  readonly #ok: Counter;
  readonly #failed: Counter;
  readonly #inflight: Gauge;
  readonly #seconds: Histogram;

  constructor(reg: Registry, d: SnapshotDirection) {
    const labelNames = [d.label];
    const family = `etcd_network_snapshot_${d.verb}`;
    this.#ok = new Counter(reg, { name: `${family}_success`, help: d.successHelp, labelNames });
    this.#failed = new Counter(reg, {
      name: `${family}_failures`,
      help: d.failuresHelp,
      labelNames,
    });
    this.#inflight = new Gauge(reg, {
      name: `${family}_inflights_total`,
      help: `Snapshot transfers ${d.preposition} each peer under way.`,
      labelNames,
    });
    this.#seconds = new Histogram(reg, {
      name: `${family}_total_duration_seconds`,
      help: `Duration of snapshot transfers ${d.preposition} each peer, in seconds.`,
      labelNames,
      buckets: SNAPSHOT_BUCKETS,
    });
  }

  /** The series of the peer whose id in hexadecimal is `id`. */
  bind(id: string): SnapshotSeries {
    return {
      ok: this.#ok.labels(id),
      failed: this.#failed.labels(id),
      inflight: this.#inflight.labels(id),
      seconds: this.#seconds.labels(id),
    };
  }
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
  readonly #sendSnapshots: SnapshotFamilies;
  readonly #receiveSnapshots: SnapshotFamilies;
  readonly #to = new Map<bigint, SendSeries>();
  readonly #from = new Map<bigint, ReceiveSeries>();
  #local = "0";

  constructor(reg: Registry) {
    const counter = (name: string, help: string, labelNames: string[]) =>
      new Counter(reg, { name, help, labelNames });
    this.sentBytes = counter(
      "etcd_network_peer_sent_bytes_total",
      "Bytes of Raft messages and snapshots sent to each peer.",
      ["To"],
    );
    this.receivedBytes = counter(
      "etcd_network_peer_received_bytes_total",
      "Bytes of Raft messages and snapshots received from each peer.",
      ["From"],
    );
    this.receivedFailures = counter(
      "etcd_network_peer_received_failures_total",
      "Frames or snapshots from each peer that could not be read or were refused.",
      ["From"],
    );
    this.disconnectedPeers = counter(
      "etcd_network_disconnected_peers_total",
      "Times the message stream to a peer went down.",
      ["Local", "Remote"],
    );
    this.#sendSnapshots = new SnapshotFamilies(reg, {
      verb: "send",
      label: "To",
      preposition: "to",
      successHelp: "Snapshots sent to each peer and accepted by it.",
      failuresHelp: "Snapshot transfers to each peer that failed.",
    });
    this.#receiveSnapshots = new SnapshotFamilies(reg, {
      verb: "receive",
      label: "From",
      preposition: "from",
      successHelp: "Snapshots received from each peer, verified and handed to the member.",
      failuresHelp: "Snapshot transfers from each peer that failed or were refused.",
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
    this.#sendSnapshot(peer).inflight.inc();
  }

  snapshotSent(peer: bigint, ok: boolean, seconds: number): void {
    ended(this.#sendSnapshot(peer), ok, seconds);
  }

  snapshotReceiving(peer: bigint): void {
    this.#receiveSnapshot(peer).inflight.inc();
  }

  snapshotReceived(peer: bigint, ok: boolean, seconds: number): void {
    ended(this.#receiveSnapshot(peer), ok, seconds);
  }

  #sendSnapshot(peer: bigint): SnapshotSeries {
    return this.#toSeries(peer).snapshot ??= this.#sendSnapshots.bind(peer.toString(16));
  }

  #receiveSnapshot(peer: bigint): SnapshotSeries {
    return this.#fromSeries(peer).snapshot ??= this.#receiveSnapshots.bind(peer.toString(16));
  }

  #toSeries(peer: bigint): SendSeries {
    return bound(this.#to, peer, this.#bindTo);
  }

  #fromSeries(peer: bigint): ReceiveSeries {
    return bound(this.#from, peer, this.#bindFrom);
  }

  // Made once, so that a report allocates nothing once its peer is bound.
  readonly #bindTo = (id: string): SendSeries => ({ bytes: this.sentBytes.labels(id) });
  readonly #bindFrom = (id: string): ReceiveSeries => ({
    bytes: this.receivedBytes.labels(id),
    failures: this.receivedFailures.labels(id),
  });
}

/** The series of `peer` in `map`, bound by `make` (given the id in hexadecimal) at the first use. */
function bound<S>(map: Map<bigint, S>, peer: bigint, make: (id: string) => S): S {
  let s = map.get(peer);
  if (s === undefined) {
    s = make(peer.toString(16));
    map.set(peer, s);
  }
  return s;
}

function ended(s: SnapshotSeries, ok: boolean, seconds: number): void {
  s.inflight.dec();
  (ok ? s.ok : s.failed).inc();
  s.seconds.observe(seconds);
}
