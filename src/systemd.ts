/**
 * systemd's readiness protocol (sd_notify): state lines such as
 * `READY=1`, `STOPPING=1` and `STATUS=...` sent as one datagram to the
 * unix socket named by `NOTIFY_SOCKET` (a path, or `@name` in the
 * abstract namespace). With `Type=notify` systemd waits for `READY=1`.
 *
 * Deno 2.9 has unix datagram sockets only behind `--unstable-net`, and
 * node:dgram has none, so the datagram goes out through libc (FFI, which
 * `-A` allows) from the member's own process: systemd accepts it under
 * the default `NotifyAccess=main`. Where libc cannot be loaded (FFI not
 * permitted, not Linux) it falls back to `systemd-notify`, whose messages
 * come from a child process and need `NotifyAccess=all`.
 *
 * When READY=1 goes out is cairn's choice, and it differs from etcd 3.5:
 * etcd notifies only after its member has published itself through Raft,
 * which needs a quorum, so the first member of a new cluster started by
 * systemd waits for peers that systemd has not started yet, hits
 * TimeoutStartSec, is killed and restarted in a loop (etcd issue 13526).
 * cairn sends READY=1 once its client listeners are bound: the process is
 * up and serves what it can (serializable reads, /livez, /metrics).
 * Whether the cluster can serve linearizable requests is what /readyz
 * and `STATUS=` say; units that need a working cluster should wait on
 * /readyz, not on the unit's start.
 *
 * @module
 */
import type { Logger } from "./log.ts";

/** Sends sd_notify state lines; a no-op when not started by systemd. */
export class SystemdNotifier {
  readonly #socket: string;
  readonly #log: Logger;

  private constructor(socket: string, log: Logger) {
    this.#socket = socket;
    this.#log = log;
  }

  /** A notifier for `NOTIFY_SOCKET`, or undefined when it is not set. */
  static fromEnv(
    env: Record<string, string | undefined>,
    log: Logger,
  ): SystemdNotifier | undefined {
    const socket = env.NOTIFY_SOCKET;
    if (!socket) return undefined;
    return new SystemdNotifier(socket, log);
  }

  /** Sends `state` (newline-separated assignments); false, logged, if it could not. */
  async notify(state: string): Promise<boolean> {
    try {
      sendWithLibc(this.#socket, new TextEncoder().encode(state));
      return true;
    } catch (libcErr) {
      try {
        await sendWithSystemdNotify(state);
        return true;
      } catch (err) {
        this.#log.error("failed to notify init daemon", {
          error: `${errorText(libcErr)}; systemd-notify: ${errorText(err)}`,
        });
        return false;
      }
    }
  }
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un) on Linux: a 2-byte family and 108 bytes of path. */
const SOCKADDR_UN_SIZE = 110;

/** One datagram to the unix socket `target` through libc's socket/sendto. */
function sendWithLibc(target: string, message: Uint8Array): void {
  if (Deno.build.os !== "linux") throw new Error("sd_notify through libc needs Linux");
  const path = new TextEncoder().encode(target);
  if (path.length >= SOCKADDR_UN_SIZE - 2) throw new Error("NOTIFY_SOCKET path too long");
  const addr = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(path, 2);
  // "@name" is the abstract namespace: a leading NUL, and no terminating one.
  const abstract = path[0] === 0x40;
  if (abstract) addr[2] = 0;
  const addrLen = 2 + path.length + (abstract ? 0 : 1);
  const lib = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    sendto: {
      parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
      result: "isize",
    },
    close: { parameters: ["i32"], result: "i32" },
  });
  try {
    const fd = lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error("socket(AF_UNIX, SOCK_DGRAM) failed");
    try {
      const sent = lib.symbols.sendto(
        fd,
        message,
        BigInt(message.length),
        MSG_NOSIGNAL,
        addr,
        addrLen,
      );
      if (Number(sent) !== message.length) throw new Error(`sendto ${target} failed`);
    } finally {
      lib.symbols.close(fd);
    }
  } finally {
    lib.close();
  }
}

async function sendWithSystemdNotify(state: string): Promise<void> {
  const out = await new Deno.Command("systemd-notify", {
    args: state.split("\n").filter((l) => l !== ""),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim());
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
