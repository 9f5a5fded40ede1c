/**
 * gRPC server metrics with the names and labels of go-grpc-prometheus,
 * which etcd registers: `grpc_server_started_total`,
 * `grpc_server_handled_total`, `grpc_server_msg_{received,sent}_total` and,
 * with `--metrics extensive`, `grpc_server_handling_seconds`. Every method
 * of the served services is initialized at start (all codes at 0), as etcd
 * does, so dashboards see each series before its first call.
 *
 * The client port binds one {@link GrpcMethodStats} per method when it
 * starts; a call then costs a few field increments.
 *
 * @module
 */
import {
  Counter,
  type CounterChild,
  Histogram,
  type HistogramChild,
  type Registry,
} from "./registry.ts";

/** gRPC status code names by number, as go-grpc-prometheus labels them. */
export const GRPC_CODE_NAMES: readonly string[] = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** How go-grpc-prometheus names a method's streaming kind. */
export type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

/** Most distinct client API versions given their own series, per kind of call. */
const MAX_CLIENT_VERSIONS = 32;

/** Prometheus' default histogram buckets (go-grpc-prometheus uses them for handling time). */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The pre-bound series of one method. */
export class GrpcMethodStats {
  readonly started: CounterChild;
  /** Indexed by gRPC status code. */
  readonly handled: CounterChild[];
  readonly received: CounterChild;
  readonly sent: CounterChild;
  /** Set with `--metrics extensive` only. */
  readonly handling: HistogramChild | undefined;
  readonly #metrics: GrpcServerMetrics;
  readonly #streaming: boolean;

  constructor(m: GrpcServerMetrics, type: GrpcType, service: string, method: string) {
    this.#metrics = m;
    this.#streaming = type !== "unary";
    this.started = m.started.labels(type, service, method);
    this.handled = GRPC_CODE_NAMES.map((code) => m.handled.labels(type, service, method, code));
    this.received = m.msgReceived.labels(type, service, method);
    this.sent = m.msgSent.labels(type, service, method);
    this.handling = m.handlingSeconds?.labels(type, service, method);
  }

  /**
   * The call started. `clientApiVersion` is its `client-api-version`
   * header (etcd's clients send their API version there), counted in
   * etcd_server_client_requests_total.
   */
  start(clientApiVersion: string | undefined): void {
    this.started.value++;
    this.#metrics.clientRequest(this.#streaming, clientApiVersion).value++;
  }

  /** A request message of `bytes` (unframed) arrived. */
  receivedMessage(bytes: number): void {
    this.received.value++;
    this.#metrics.receivedBytes.value += bytes;
  }

  /** `count` response messages of `bytes` in all (unframed) went out. */
  sentMessages(count: number, bytes: number): void {
    this.sent.value += count;
    this.#metrics.sentBytes.value += bytes;
  }

  /** The call ended with `code`; `startMs` is its `performance.now()` at start (extensive only). */
  finished(code: number, startMs: number): void {
    (this.handled[code] ?? this.handled[2]).value++;
    if (this.handling !== undefined) this.handling.observe((performance.now() - startMs) / 1000);
  }
}

/** The gRPC server families of one member, and the byte counters etcd keeps beside them. */
export class GrpcServerMetrics {
  readonly started: Counter;
  readonly handled: Counter;
  readonly msgReceived: Counter;
  readonly msgSent: Counter;
  readonly handlingSeconds: Histogram | undefined;
  /** etcd_network_client_grpc_received_bytes_total: request message bytes. */
  readonly receivedBytes: CounterChild;
  /** etcd_network_client_grpc_sent_bytes_total: response message bytes. */
  readonly sentBytes: CounterChild;
  readonly #methods = new Map<string, GrpcMethodStats>();
  readonly #clientRequests: Counter;
  /** Bound series by version, unary and streaming; bounded, as clients choose the text. */
  readonly #unaryByVersion = new Map<string, CounterChild>();
  readonly #streamByVersion = new Map<string, CounterChild>();

  constructor(reg: Registry, extensive: boolean) {
    const labelNames = ["grpc_type", "grpc_service", "grpc_method"];
    this.started = new Counter(reg, {
      name: "grpc_server_started_total",
      help: "RPCs started on the server.",
      labelNames,
    });
    this.handled = new Counter(reg, {
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, whatever their status.",
      labelNames: [...labelNames, "grpc_code"],
    });
    this.msgReceived = new Counter(reg, {
      name: "grpc_server_msg_received_total",
      help: "Stream messages received on the server (one per unary request).",
      labelNames,
    });
    this.msgSent = new Counter(reg, {
      name: "grpc_server_msg_sent_total",
      help: "Stream messages sent by the server (one per unary response).",
      labelNames,
    });
    this.handlingSeconds = extensive
      ? new Histogram(reg, {
        name: "grpc_server_handling_seconds",
        help: "Time from the start of an RPC to its end on the server, in seconds.",
        labelNames,
        buckets: DEFAULT_BUCKETS,
      })
      : undefined;
    this.receivedBytes = new Counter(reg, {
      name: "etcd_network_client_grpc_received_bytes_total",
      help: "Bytes of messages received from gRPC clients.",
    }).labels();
    this.sentBytes = new Counter(reg, {
      name: "etcd_network_client_grpc_sent_bytes_total",
      help: "Bytes of messages sent to gRPC clients.",
    }).labels();
    this.#clientRequests = new Counter(reg, {
      name: "etcd_server_client_requests_total",
      help: "Client requests by kind (unary or stream) and client API version.",
      // In the order Go's client prints them (sorted by name).
      labelNames: ["client_api_version", "type"],
    });
  }

  /**
   * The series of a call's kind and client API version ("unknown" when
   * the client sent none, as etcd labels it). Clients choose the version
   * text, so at most {@link MAX_CLIENT_VERSIONS} distinct ones get a
   * series; the rest are counted as "other".
   */
  clientRequest(streaming: boolean, version: string | undefined): CounterChild {
    const bound = streaming ? this.#streamByVersion : this.#unaryByVersion;
    const key = version ?? "";
    let c = bound.get(key);
    if (c === undefined) {
      const label = key === "" ? "unknown" : bound.size < MAX_CLIENT_VERSIONS ? key : "other";
      c = this.#clientRequests.labels(label, streaming ? "stream" : "unary");
      if (label !== "other") bound.set(key, c);
    }
    return c;
  }

  /** Whether calls should read the clock (handling time is measured). */
  get timed(): boolean {
    return this.handlingSeconds !== undefined;
  }

  /**
   * The stats of `/service/method`, bound (and its series initialized) on
   * first request for it: call at start-up for every method served.
   */
  method(type: GrpcType, service: string, method: string): GrpcMethodStats {
    const key = `/${service}/${method}`;
    let s = this.#methods.get(key);
    if (s === undefined) {
      s = new GrpcMethodStats(this, type, service, method);
      this.#methods.set(key, s);
    }
    return s;
  }

  /** The stats bound for a request path, if its method was initialized. */
  forPath(path: string): GrpcMethodStats | undefined {
    return this.#methods.get(path);
  }

  /** Initializes every method of a service description (protobuf-es `DescService`). */
  initService(service: ServiceShape): void {
    for (const m of service.methods) {
      this.method(grpcType(m.methodKind), service.typeName, m.name);
    }
  }
}

/** The parts of a protobuf-es service description used here. */
export interface ServiceShape {
  typeName: string;
  methods: readonly { name: string; methodKind: string }[];
}

/** go-grpc-prometheus' name for a protobuf-es method kind. */
export function grpcType(kind: string): GrpcType {
  switch (kind) {
    case "client_streaming":
      return "client_stream";
    case "server_streaming":
      return "server_stream";
    case "bidi_streaming":
      return "bidi_stream";
    default:
      return "unary";
  }
}
