/**
 * gRPC keepalive on the server side of an HTTP/2 connection, with the
 * semantics of grpc-go's server transport (what etcd's client port runs):
 *
 * - {@link IdlePinger}: a connection nothing was read from for `interval`
 *   gets a PING; if still nothing arrives within `timeout`, the connection
 *   is closed (grpc-go closes it without a GOAWAY: the peer is not
 *   answering anyway).
 * - {@link PingPolicy}: a client that PINGs more often than `minTime`, or
 *   at all while it has no streams open (etcd sets PermitWithoutStream
 *   false), earns a strike; the third strike gets GOAWAY
 *   ENHANCE_YOUR_CALM "too_many_pings". Strikes are forgiven whenever the
 *   server sends headers or data, because gRPC clients PING after each
 *   burst of data they receive to measure the round trip (BDP pings), and
 *   those must never count against them.
 *
 * Both pieces take the time as an argument or through an injected clock,
 * so their rules are tested without waiting.
 *
 * @module
 */

/** Keepalive settings of a server connection (milliseconds). */
export interface KeepaliveOptions {
  /** A connection idle (nothing read) this long gets a server PING. */
  intervalMs: number;
  /** How long after that PING something must arrive before the connection is closed. */
  timeoutMs: number;
  /** Shortest interval between client PINGs the server tolerates. */
  minTimeMs: number;
  /** Whether clients may PING while they have no stream open (etcd: false). */
  permitWithoutStream: boolean;
}

/** grpc-go's server defaults, used when etcd leaves a setting to gRPC. */
export const GRPC_KEEPALIVE_DEFAULTS: Readonly<KeepaliveOptions> = {
  intervalMs: 2 * 60 * 60 * 1000,
  timeoutMs: 20 * 1000,
  minTimeMs: 5 * 60 * 1000,
  permitWithoutStream: false,
};

/** etcd's --grpc-keepalive-* flag values, in milliseconds. */
export interface KeepaliveFlags {
  /** --grpc-keepalive-min-time (etcd default 5 s). */
  minTimeMs: number;
  /** --grpc-keepalive-interval (etcd default 2 h). */
  intervalMs: number;
  /** --grpc-keepalive-timeout (etcd default 20 s). */
  timeoutMs: number;
}

/**
 * What etcd's gRPC server ends up enforcing for the given flags. etcd
 * passes the enforcement policy only for a positive min-time, and the
 * server parameters only when interval and timeout are both positive;
 * otherwise grpc-go's own defaults apply (so "0 to disable" in etcd's
 * help text does not disable anything).
 */
export function keepaliveFromFlags(flags: KeepaliveFlags): KeepaliveOptions {
  const d = GRPC_KEEPALIVE_DEFAULTS;
  const params = flags.intervalMs > 0 && flags.timeoutMs > 0;
  return {
    intervalMs: params ? flags.intervalMs : d.intervalMs,
    timeoutMs: params ? flags.timeoutMs : d.timeoutMs,
    minTimeMs: flags.minTimeMs > 0 ? flags.minTimeMs : d.minTimeMs,
    permitWithoutStream: false,
  };
}

/** Strikes a client may collect before it is sent away (grpc-go's maxPingStrikes). */
export const MAX_PING_STRIKES = 2;
/**
 * Without open streams a client has no reason to PING (its keepalive is
 * off then), so grpc-go expects at least this long between such PINGs.
 */
export const NO_STREAM_PING_MS = 2 * 60 * 60 * 1000;

/** grpc-go's enforcement of how often a client may PING. */
export class PingPolicy {
  #strikes = 0;
  #lastPingAt = -Infinity;
  #forgive = false;

  constructor(
    private readonly minTimeMs: number,
    private readonly permitWithoutStream = false,
  ) {}

  /** The server sent headers or data: the next client PING starts a clean record. */
  wrote(): void {
    this.#forgive = true;
  }

  /**
   * A client PING (not an ACK) arrived at `now` (ms) while `activeStreams`
   * streams were open. True when this PING is one too many: the caller
   * sends GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and closes.
   */
  ping(now: number, activeStreams: number): boolean {
    const last = this.#lastPingAt;
    this.#lastPingAt = now;
    if (this.#forgive) {
      this.#forgive = false;
      this.#strikes = 0;
      return false;
    }
    const minGap = activeStreams < 1 && !this.permitWithoutStream
      ? NO_STREAM_PING_MS
      : this.minTimeMs;
    if (last + minGap > now) this.#strikes++;
    return this.#strikes > MAX_PING_STRIKES;
  }
}

/** What an {@link IdlePinger} does to its connection. */
export interface PingerHost {
  /** Sends a PING (not an ACK) to the peer. */
  sendPing(): void;
  /** Closes the connection: the peer did not answer in time. */
  close(reason: string): void;
}

/** Timer functions (injectable for tests); a handle is whatever `set` returned. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** setTimeout's largest delay; longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Server-initiated keepalive of one connection: grpc-go's keepalive loop,
 * driven by one timer. Reads are recorded with {@link IdlePinger.read}
 * (any bytes from the peer, a PING ACK included, prove it alive).
 */
export class IdlePinger {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #host: PingerHost;
  readonly #now: () => number;
  readonly #timers: Timers;
  #lastRead = 0;
  /** lastRead when the timer last looked. */
  #seenRead = 0;
  #outstanding = false;
  #timeoutLeft = 0;
  #timer: unknown;
  /** When the current wait ends (waits longer than one timer take several). */
  #due = 0;
  #stopped = false;
  readonly #fireBound = () => this.#fire();

  constructor(
    opts: Pick<KeepaliveOptions, "intervalMs" | "timeoutMs">,
    host: PingerHost,
    now: () => number = () => performance.now(),
    timers: Timers = realTimers,
  ) {
    if (!(opts.intervalMs > 0) || !(opts.timeoutMs > 0)) {
      throw new RangeError("keepalive interval and timeout must be positive");
    }
    this.#intervalMs = opts.intervalMs;
    this.#timeoutMs = opts.timeoutMs;
    this.#host = host;
    this.#now = now;
    this.#timers = timers;
  }

  /** Starts watching; the first PING can follow `interval` without reads. */
  start(): void {
    const now = this.#now();
    this.#lastRead = now;
    this.#seenRead = now;
    this.#arm(this.#intervalMs);
  }

  /** Bytes arrived from the peer. */
  read(): void {
    this.#lastRead = this.#now();
  }

  /** Stops the timer for good (the connection closed). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#due = this.#now() + ms;
    this.#timer = this.#timers.set(this.#fireBound, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
  }

  #fire(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const now = this.#now();
    // A wait longer than one timer allows (or a timer firing early) goes on.
    if (this.#due > now) return this.#arm(this.#due - now);
    if (this.#lastRead > this.#seenRead) {
      // The peer spoke since we last looked: wait a full interval from then.
      this.#outstanding = false;
      this.#seenRead = this.#lastRead;
      return this.#arm(this.#lastRead + this.#intervalMs - now);
    }
    if (this.#outstanding && this.#timeoutLeft <= 0) {
      this.stop();
      this.#host.close(`keepalive ping not acked within timeout ${this.#timeoutMs}ms`);
      return;
    }
    if (!this.#outstanding) {
      this.#host.sendPing();
      this.#outstanding = true;
      this.#timeoutLeft = this.#timeoutMs;
    }
    // Wake after the shorter of interval and the time left, as grpc-go does.
    const sleep = Math.min(this.#intervalMs, this.#timeoutLeft);
    this.#timeoutLeft -= sleep;
    this.#arm(sleep);
  }
}
