/**
 * cairn: an etcd v3 compatible key-value store. Started with etcd's flags
 * (or ETCD_* environment variables, or --config-file) it runs one member,
 * exactly where etcd would be started.
 *
 * @module
 */
import { ConfigError, parseConfig, wantsConfigFile } from "./src/config.ts";
import { createLogger, LogSetupError, setupLogger } from "./src/log.ts";
import { startIdleGc } from "./src/process/idle_gc.ts";
import { startServer } from "./src/serve.ts";
import { SystemdNotifier } from "./src/systemd.ts";
import { versionLines } from "./src/version.ts";

/** cairn's own version (deno.json's; the etcd API version it implements is beside it). */
export { CAIRN_VERSION } from "./src/version.ts";

async function main(args: string[]): Promise<number> {
  // `cairn snapshot status|restore`: etcdutl's offline snapshot commands.
  if (args[0] === "snapshot") {
    const { snapshotCommand } = await import("./src/cli/snapshot.ts");
    return await snapshotCommand(args.slice(1));
  }
  let outcome;
  try {
    const env = Deno.env.toObject();
    const yaml = wantsConfigFile(args, env) ? (await import("yaml")).parse : undefined;
    outcome = parseConfig(args, env, (p) => Deno.readTextFileSync(p), yaml);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`cairn: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
  if (outcome.kind === "help") {
    console.log(outcome.text);
    return 0;
  }
  if (outcome.kind === "version") {
    for (const line of versionLines()) console.log(line);
    return 0;
  }
  let logging;
  try {
    const { logger, logOutputs, logLevel } = outcome.config;
    logging = setupLogger({ logger, outputs: logOutputs, level: logLevel });
  } catch (err) {
    if (!(err instanceof LogSetupError)) throw err;
    // etcd reports it on a default logger (stderr, info) and exits 1.
    createLogger("info").warn("failed to verify flags", { error: err.message });
    return 1;
  }
  const log = logging.logger;
  for (const w of [...logging.warnings, ...outcome.warnings]) log.warn(w);
  // --discovery-srv: a new member's initial cluster comes from DNS SRV
  // records. The discovery code is loaded only then: every module loaded
  // at start stays resident for the life of the process.
  const config = outcome.config.discoverySrv === ""
    ? outcome.config
    : await (await import("./src/discovery/bootstrap.ts")).configFromSrv(outcome.config, log);
  if (config === undefined) return 1;
  const systemd = SystemdNotifier.fromEnv(Deno.env.toObject(), log);
  try {
    const server = await startServer(config, log);
    // Hands memory back after start-up and after write bursts
    // (src/process/idle_gc.ts says why).
    // A member with no peers may pause longer for a collection (no quorum to lose).
    startIdleGc({
      settleFirst: true,
      lone: () => server.member.sm.membership.records().length === 1,
    });
    // Ready once the client listeners are bound, quorum or not (etcd issue
    // 13526: src/systemd.ts says why); STATUS tells whether a leader is known.
    if (systemd) {
      log.info("notifying init daemon");
      const leader = server.member.leader;
      const status = leader === 0n ? "waiting for a leader" : `leader ${leader.toString(16)}`;
      if (await systemd.notify(`READY=1\nSTATUS=serving clients; ${status}`)) {
        log.info("successfully notified init daemon");
      }
    }
    let stopping = false;
    const stop = async (signal: string) => {
      // A second signal while stopping changes nothing: the first one's stop is bounded.
      if (stopping) return;
      stopping = true;
      log.info("received signal, shutting down", { signal });
      await systemd?.notify("STOPPING=1");
      await server.stop();
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
    Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
    return await server.done;
  } catch (err) {
    log.error("failed to start member", {
      error: err instanceof Error ? err.message : String(err),
    });
    return 1;
  }
}

if (import.meta.main) {
  // `deno task start -- <flags>` passes the "--" through; it is not a flag.
  const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
  Deno.exit(await main(args));
}
