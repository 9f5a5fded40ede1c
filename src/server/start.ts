/**
 * Starts a member and its client listeners from a Config, and stops them.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { etcdServices } from "../api/routes.ts";
import { createHttpApp } from "../http/app.ts";
import { type ClientListener, listenClient } from "../http/client_listener.ts";
import { createClientHandlers } from "../http/handler.ts";
import { Member } from "./member.ts";

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
  // Accepted for etcd compatibility but not acted on yet: say so plainly.
  if (cfg.autoCompactionRetention > 0) {
    log.warn("auto compaction is not implemented yet: --auto-compaction-retention is ignored");
  }
  if (cfg.clientTls.certFile || cfg.peerTls.certFile || cfg.clientTls.clientCertAuth) {
    log.warn(
      "TLS is not implemented yet: certificate flags are ignored (only http:// URLs are served)",
    );
  }
  const member = await Member.start(cfg, log, (_err, code) => fail(code));
  const services = etcdServices(member);
  const readMaxBytes = cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  const handlers = createClientHandlers({
    routes: services.connect,
    unary: services.unary,
    bidi: services.bidi,
    app: createHttpApp(member),
    readMaxBytes,
  });
  const listeners: ClientListener[] = [];
  for (const url of [...cfg.listenClientUrls, ...cfg.listenClientHttpUrls]) {
    if (url.protocol !== "http:") throw new Error(`unsupported client URL scheme ${url.href}`);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || 2379);
    const listener = await listenClient({
      host,
      port,
      onStream: handlers.http2,
      http1: handlers.http1,
      log,
    });
    listeners.push(listener);
    log.info("serving client traffic", { address: `${host}:${listener.address.port}` });
  }
  log.info("ready to serve client requests", { name: cfg.name, member_id: member.id.toString(16) });
  return {
    member,
    listeners,
    done,
    async stop() {
      await Promise.all(listeners.map((l) => l.close()));
      await member.stop();
    },
  };
}
