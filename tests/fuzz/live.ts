/**
 * A real member under fuzzing, and the two properties every network
 * fuzzer checks on it:
 *
 * - it never crashes on network input: after each batch of cases the
 *   process is still running and serves etcdctl (a put, then a get that
 *   must return the value just put);
 * - it never acknowledges a write it then loses: every put acknowledged
 *   during the run is read back at the end, and again after a SIGKILL and
 *   restart on the same data directory.
 *
 * The acknowledged writes live under {@link ACKED_PREFIX}, which the RPC
 * fuzzer keeps its own requests away from (a fuzzed DeleteRange may delete
 * keys: that is the API working, not a lost write).
 *
 * @module
 */
import { fromBinary } from "@bufbuild/protobuf";
import { StatusResponseSchema } from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { etcdctl } from "../harness/etcdctl.ts";
import { Member, type MemberOptions } from "../harness/member.ts";
import { callBatch, header } from "./h2_calls.ts";

/** Keys written by the liveness checks; fuzzed requests never touch them. */
export const ACKED_PREFIX = "zz-fuzz-acked/";
/** The first key after every key under {@link ACKED_PREFIX}. */
export const ACKED_PREFIX_END = "zz-fuzz-acked0";

/** A write the member acknowledged. */
interface Acked {
  key: string;
  value: string;
}

/** One member under fuzzing, with the writes it acknowledged. */
export class LiveTarget {
  readonly acked: Acked[] = [];
  #n = 0;

  private constructor(readonly member: Member, readonly label: string) {}

  /** Starts a single-member cluster of cairn. */
  static async start(label: string, options: Partial<MemberOptions> = {}): Promise<LiveTarget> {
    const member = await Member.start({
      kind: "cairn",
      ...options,
      extraArgs: ["--log-level=warn", ...(options.extraArgs ?? [])],
    });
    return new LiveTarget(member, label);
  }

  /**
   * Undefined when the member is running and serves a put and a get of the
   * value just put through etcdctl (the put is then remembered as
   * acknowledged); otherwise what went wrong, with the stderr tail.
   */
  async problem(): Promise<string | undefined> {
    const m = this.member;
    if (!m.running) {
      const code = m.exitStatus?.code;
      return `member exited (code ${code}, signal ${m.exitStatus?.signal})\n${await m
        .stderrTail()}`;
    }
    const key = `${ACKED_PREFIX}${this.label}/${String(this.#n++).padStart(6, "0")}`;
    const value = `v${this.#n}-${crypto.randomUUID()}`;
    const put = await etcdctl(m.endpoint, ["put", key, value]);
    if (put.code !== 0) {
      return `etcdctl put failed (exit ${put.code}): ${put.stderr.trim()}\n${await m.stderrTail()}`;
    }
    this.acked.push({ key, value });
    const get = await etcdctl(m.endpoint, ["get", key, "--print-value-only"]);
    if (get.code !== 0 || get.stdout.trim() !== value) {
      return `etcdctl get after put returned exit ${get.code} ${JSON.stringify(get.stdout)} ` +
        `(want ${JSON.stringify(value)}): ${get.stderr.trim()}\n${await m.stderrTail()}`;
    }
    return undefined;
  }

  /** Undefined when every acknowledged write reads back with its value; else the losses. */
  async lostWrites(): Promise<string | undefined> {
    const m = this.member;
    const res = await etcdctl(m.endpoint, [
      "get",
      ACKED_PREFIX,
      ACKED_PREFIX_END,
      "--write-out=json",
    ]);
    if (res.code !== 0) return `reading the acknowledged writes failed: ${res.stderr.trim()}`;
    const kvs = (JSON.parse(res.stdout).kvs ?? []) as { key: string; value: string }[];
    const stored = new Map(kvs.map((kv) => [atob(kv.key), atob(kv.value)]));
    const lost = this.acked.filter((a) => stored.get(a.key) !== a.value);
    if (lost.length === 0) return undefined;
    const show = lost.slice(0, 5).map((a) =>
      `${a.key}=${a.value} (stored: ${JSON.stringify(stored.get(a.key))})`
    );
    return `${lost.length} of ${this.acked.length} acknowledged writes lost:\n${show.join("\n")}`;
  }

  /**
   * After a batch of cases ended with the member dead: restarts it and
   * replays the cases one at a time, each followed by a short wait, to
   * name the one that kills it. Undefined when none does alone (or the
   * member does not come back).
   */
  async culprit(
    from: number,
    to: number,
    replay: (index: number) => Promise<unknown>,
  ): Promise<number | undefined> {
    const m = this.member;
    for (let i = from; i <= to; i++) {
      if (!m.running) {
        try {
          m.launch();
          await m.waitHealthy();
        } catch {
          return undefined;
        }
      }
      await replay(i).catch(() => {});
      if (await m.waitExit(200)) return i;
    }
    return undefined;
  }

  /** Checks the acknowledged writes, SIGKILLs the member, restarts it and checks them again. */
  async durabilityProblem(): Promise<string | undefined> {
    const before = await this.lostWrites();
    if (before) return `before restart: ${before}`;
    try {
      await this.member.restart(true);
    } catch (err) {
      return `restart after SIGKILL failed: ${(err as Error).message}`;
    }
    const after = await this.lostWrites();
    return after ? `after SIGKILL and restart: ${after}\n${await this.member.stderrTail()}` : after;
  }

  /** The member's and its cluster's ids and its Raft term, from a gRPC Maintenance.Status call. */
  async identity(): Promise<{ memberId: bigint; clusterId: bigint; term: number }> {
    const { outcomes } = await callBatch(this.member.clientPort, [{
      headers: [
        [":method", "POST"],
        [":scheme", "http"],
        [":path", "/etcdserverpb.Maintenance/Status"],
        [":authority", this.member.endpoint],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
      ],
      body: [new Uint8Array(5)], // one empty message
      end: true,
      streaming: false,
    }]);
    const o = outcomes[0];
    if (header(o, "grpc-status") !== "0" || o.data.length < 5) {
      throw new Error(`Status call failed: ${JSON.stringify(o.blocks.map((b) => [...b]))}`);
    }
    const res = fromBinary(StatusResponseSchema, o.data.subarray(5));
    return {
      memberId: res.header!.memberId,
      clusterId: res.header!.clusterId,
      term: Number(res.raftTerm),
    };
  }

  /** Stops the member and removes its directory. */
  async destroy(): Promise<void> {
    await this.member.destroy();
  }
}
