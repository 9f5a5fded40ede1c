/**
 * A systemd-style notification socket for tests: a unix datagram socket
 * bound to a path, read without blocking. Deno 2.9 offers unix datagram
 * sockets only behind --unstable-net, so this talks to libc directly
 * (bind/recv), independently of cairn's own sender in src/systemd.ts.
 */

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

/** A bound NOTIFY_SOCKET; `messages` collects every datagram received. */
export class NotifySocket {
  readonly path: string;
  readonly messages: string[] = [];
  readonly #lib;
  readonly #fd: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(path: string) {
    this.path = path;
    this.#lib = Deno.dlopen("libc.so.6", {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
      close: { parameters: ["i32"], result: "i32" },
    });
    this.#fd = this.#lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (this.#fd < 0) throw new Error("socket() failed");
    const addr = new Uint8Array(110);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    const bytes = new TextEncoder().encode(path);
    addr.set(bytes, 2);
    if (this.#lib.symbols.bind(this.#fd, addr, 2 + bytes.length + 1) !== 0) {
      throw new Error(`bind(${path}) failed`);
    }
    const buf = new Uint8Array(4096);
    this.#timer = setInterval(() => {
      for (;;) {
        const n = Number(this.#lib.symbols.recv(this.#fd, buf, BigInt(buf.length), 0));
        if (n <= 0) return;
        this.messages.push(new TextDecoder().decode(buf.subarray(0, n)));
      }
    }, 20);
  }

  /** Binds a fresh socket in `dir`. */
  static open(dir: string): NotifySocket {
    return new NotifySocket(`${dir}/notify.sock`);
  }

  /** Resolves with the first message containing `line` (e.g. "READY=1"); rejects after timeoutMs. */
  async waitFor(line: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = this.messages.find((msg) => msg.split("\n").includes(line));
      if (m !== undefined) return m;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(
      `no ${line} on ${this.path} within ${timeoutMs} ms (got ${JSON.stringify(this.messages)})`,
    );
  }

  /** Stops reading, closes and removes the socket. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lib.symbols.close(this.#fd);
    this.#lib.close();
    try {
      Deno.removeSync(this.path);
    } catch { /* already gone */ }
  }
}
