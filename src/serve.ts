/**
 * The composition root under main.ts: resolves TLS for both ports, starts
 * the member with its peer network, and serves clients on every client
 * URL. It is the one place that knows every room (`src/server`,
 * `src/api`, `src/http`), so none of them has to import a room above it.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { etcdServices } from "./api/routes.ts";
import { type AuthParts, setupAuth } from "./api/auth_setup.ts";
import { createHttpApp, createMetricsApp, type HttpSources } from "./http/app.ts";
import { BidiRoutes } from "./http/grpc_bidi.ts";
import { UnaryRoutes } from "./http/grpc_unary.ts";
import { keepaliveFromFlags } from "./http/h2/keepalive.ts";
import { PPROF_PREFIX } from "./http/pprof_paths.ts";
import { type ClientListener, listenClient, type ListenOptions } from "./http/client_listener.ts";
import { type ClientHandlers, createClientHandlers } from "./http/handler.ts";
import { isTlsUrl, isUnixUrl } from "./http/net.ts";
import { createDialer } from "./http/tls/dial.ts";
import { type PortTls, resolvePortTls } from "./http/tls/settings.ts";
import { Member } from "./server/member.ts";
import { EtcdErrors } from "./errors.ts";
import { Compactor } from "./server/compactor.ts";
import { HealthChecker } from "./server/health.ts";
import { create } from "@bufbuild/protobuf";
import {
  Auth,
  Cluster,
  CompactionRequestSchema,
  KV,
  Lease,
  Maintenance,
  RangeRequestSchema,
  Watch,
} from "./gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { grpcMetricsInterceptor } from "./http/grpc_metrics.ts";

/** gRPC framing and header overhead etcd allows on top of --max-request-bytes. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

/** A running member with its listeners. */
export interface RunningServer {
  member: Member;
  listeners: ClientListener[];
  /** Resolves with an exit code when the member stops on its own (fatal error). */
  done: Promise<number>;
  stop(): Promise<void>;
}

/** Recovers or bootstraps the member, then serves clients on every --listen-client-urls. */
export async function startServer(cfg: Config, log: Logger): Promise<RunningServer> {
  let fail: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (fail = resolve));
  const { client: clientTls, peer: peerTls } = await resolveTls(cfg, log);
  const member = await Member.start(cfg, log, (_err, code) => fail(code), {
    tls: peerTls?.server,
    dial: createDialer(peerTls?.client),
  });
  let auth: AuthParts;
  try {
    // Bad --auth-token options stop the start-up, as in etcd.
    auth = await setupAuth(member);
  } catch (err) {
    await member.stop();
    throw err;
  }
  const services = etcdServices(member);
  // Every method's series exist from the start, at 0, as etcd initializes them.
  const grpcMetrics = member.metrics.grpc;
  for (const svc of [KV, Watch, Lease, Cluster, Maintenance, Auth]) grpcMetrics.initService(svc);
  services.unary.instrument(grpcMetrics);
  services.bidi.instrument(grpcMetrics);
  const http = { health: healthChecker(member, log), metrics: member.metrics };
  const readMaxBytes = cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  // etcd serves pprof with --enable-pprof, and also at --log-level debug.
  if (cfg.enablePprof) log.info("pprof is enabled", { path: PPROF_PREFIX });
  const handlers = createClientHandlers({
    routes: services.connect,
    unary: services.unary,
    bidi: services.bidi,
    app: createHttpApp(http, {
      pprof: cfg.enablePprof || cfg.logLevel === "debug",
      gateway: { services: services.gateway, readMaxBytes },
    }),
    interceptors: [grpcMetricsInterceptor(grpcMetrics)],
    readMaxBytes,
    access: { cors: cfg.cors, hostWhitelist: cfg.hostWhitelist },
  });
  const keepalive = keepaliveFromFlags({
    minTimeMs: cfg.grpcKeepaliveMinTimeMs,
    intervalMs: cfg.grpcKeepaliveIntervalMs,
    timeoutMs: cfg.grpcKeepaliveTimeoutMs,
  });
  const listeners: ClientListener[] = [];
  try {
    const client = { maxConcurrentStreams: cfg.maxConcurrentStreams, keepalive };
    const clientUrls = [...cfg.listenClientUrls, ...cfg.listenClientHttpUrls];
    await listenAll(clientUrls, handlers, clientTls, log, "client traffic", client, listeners);
    if (cfg.listenMetricsUrls.length > 0) {
      await listenAll(
        cfg.listenMetricsUrls,
        metricsHandlers(http),
        clientTls,
        log,
        "metrics",
        {},
        listeners,
      );
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await member.stop();
    auth.close();
    throw err;
  }
  log.info("ready to serve client requests", { name: cfg.name, member_id: member.id.toString(16) });
  const compactor = startCompactor(member, cfg, log);
  return {
    member,
    listeners,
    done,
    async stop() {
      await compactor.stop();
      await stopGracefully(member, services.bidi, log);
      await Promise.all(listeners.map((l) => l.close()));
      await member.stop();
      auth.close();
    },
  };
}

/**
 * Serves `handlers` on every URL (https and unixs ones with the client
 * certificate), adding each listener to `into` as it binds so the caller
 * can close them all if a later one fails.
 */
async function listenAll(
  urls: URL[],
  handlers: ClientHandlers,
  clientTls: PortTls | undefined,
  log: Logger,
  what: string,
  extra: Pick<ListenOptions, "maxConcurrentStreams" | "keepalive">,
  into: ClientListener[],
): Promise<void> {
  for (const url of urls) {
    // etcd checks the Host header of HTTP requests only without TLS.
    const entry = isTlsUrl(url) ? handlers.overTls : handlers;
    const listener = await listenClient({
      url,
      tls: isTlsUrl(url) ? clientTls?.server : undefined,
      onStream: entry.http2,
      http1: entry.http1,
      log,
      ...extra,
    });
    into.push(listener);
    const { address, port } = listener.address;
    log.info(`serving ${what}`, {
      address: isUnixUrl(url) ? address : `${address}:${port}`,
      tls: isTlsUrl(url),
    });
  }
}

/**
 * What `--listen-metrics-urls` listeners serve: etcd serves /metrics and
 * the health endpoints there, and no gRPC.
 */
function metricsHandlers(http: HttpSources): ClientHandlers {
  return createClientHandlers({
    routes: () => {},
    unary: new UnaryRoutes(),
    bidi: new BidiRoutes(),
    app: createMetricsApp(http),
    readMaxBytes: 64 * 1024,
  });
}

/** How long the stop waits for this member's in-flight writes, at most. */
const DRAIN_MS = 5000;

/**
 * The graceful part of a stop (SIGTERM): a leader hands leadership to its
 * most caught-up follower first, so the cluster never waits out an
 * election timeout; open watch streams are ended with etcd's "server
 * stopped" status (Unavailable: clients resume them on another member);
 * writes in flight here are given time to be applied and proposals passed
 * on to the new leader (Member.quiesce). The caller then closes the
 * listeners and the member.
 */
async function stopGracefully(member: Member, bidi: BidiRoutes, log: Logger): Promise<void> {
  await member.handOverLeadership();
  const watches = bidi.finishAll(EtcdErrors.stopped());
  if (watches > 0) log.info("closed watch streams on stop", { streams: watches });
  await member.quiesce(DRAIN_MS);
}

/** etcd's health checks, reading the member as etcd's handlers read the server. */
function healthChecker(member: Member, log: Logger): HealthChecker {
  // etcd's probe: a Range of one key, keys only.
  const probe = create(RangeRequestSchema, { key: new Uint8Array([0]), keysOnly: true, limit: 1n });
  return new HealthChecker(
    {
      alarms: () => member.sm.alarms,
      leader: () => member.leader,
      isLearner: () => member.isLearner,
      read: async (serializable) => {
        if (!serializable) await member.readBarrier();
        member.sm.store.range(probe);
      },
    },
    log,
    member.metrics,
  );
}

/** Auto-compaction on the leader, proposing Compact as a client would. */
function startCompactor(member: Member, cfg: Config, log: Logger): Compactor {
  const compactor = new Compactor({
    mode: cfg.autoCompactionMode,
    retention: cfg.autoCompactionRetention,
    log,
    revision: () => member.sm.store.currentRevision,
    isLeader: () => member.leader === member.id,
    compact: async (rev) => {
      await member.propose({
        case: "compaction",
        value: create(CompactionRequestSchema, { revision: BigInt(rev) }),
      });
    },
  });
  compactor.start();
  return compactor;
}

/** The TLS of both ports, from files or generated (`--auto-tls`) into the data dir as etcd does. */
async function resolveTls(
  cfg: Config,
  log: Logger,
): Promise<{ client?: PortTls; peer?: PortTls }> {
  const common = {
    cipherSuites: cfg.cipherSuites,
    tlsMinVersion: cfg.tlsMinVersion,
    tlsMaxVersion: cfg.tlsMaxVersion,
    selfSignedCertValidityYears: cfg.selfSignedCertValidityYears,
  };
  const hosts = (urls: URL[]) =>
    urls.map((u) => isUnixUrl(u) ? "localhost" : u.hostname.replace(/^\[(.*)\]$/, "$1"));
  const client = await resolvePortTls(
    cfg.clientTls,
    common,
    {
      dir: join(cfg.dataDir, "fixtures", "client"),
      hosts: hosts([...cfg.listenClientUrls, ...cfg.listenClientHttpUrls]),
    },
    false,
    log,
  );
  const peer = await resolvePortTls(
    cfg.peerTls,
    common,
    {
      dir: join(cfg.dataDir, "fixtures", "peer"),
      hosts: hosts(cfg.listenPeerUrls),
    },
    true,
    log,
    cfg.peerSkipClientSanVerification,
    { certFile: cfg.peerClientCertFile, keyFile: cfg.peerClientKeyFile },
  );
  return { client, peer };
}
