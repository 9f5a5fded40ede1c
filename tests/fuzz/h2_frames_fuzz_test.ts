/**
 * Fuzzes cairn's HTTP/2 server with raw frame sequences (h2_frame_cases.ts)
 * on a live member's client port and, for a fifth of the cases, its peer
 * port (the same server code behind the peer checks).
 *
 * Properties: a conforming client (a sixth of the cases: valid frames
 * only, requests to any path, flow control, settings, one PING) is never
 * disconnected; on a connection whose frames were honestly framed the server
 * still reacts to a PING afterwards (an ACK, a GOAWAY or a close, within
 * 3 s: it may refuse us, never ignore us); the member keeps running and
 * serving etcdctl after each batch; acknowledged writes survive to the end
 * and through a SIGKILL and restart.
 */
import { RawClient, rawFrame, T, within } from "../../src/http/h2/test_raw_client.ts";
import { skipIfToolsMissing } from "../harness/tools.ts";
import { type FrameCase, frameCase } from "./h2_frame_cases.ts";
import { LiveTarget } from "./live.ts";
import { caseRng, forEachBatch, FuzzFailure, fuzzPlan, trace } from "./plan.ts";

const ignore = skipIfToolsMissing("fuzz/h2_frames_fuzz_test.ts");
const BATCH = 50;
const PARALLEL = 10;
const PROBE = new TextEncoder().encode("fuzzprob");

/** Runs one case; undefined when the server behaved, else what it did wrong. */
async function runCase(port: number, c: FrameCase): Promise<{ problem?: string; outcome: string }> {
  const client = await RawClient.connect(port);
  try {
    await within(client.write(c.bytes), 5000, "writing the case").catch(() => {});
    // Drain what the server says until it closes or goes quiet.
    let closed = false;
    let goaway = false;
    const deadline = Date.now() + 1500;
    for (;;) {
      let f;
      try {
        f = await client.next(Math.min(100, Math.max(1, deadline - Date.now())));
      } catch {
        break; // quiet
      }
      if (f === null) {
        closed = true;
        break;
      }
      if (f.type === T.GOAWAY) goaway = true;
      if (Date.now() > deadline) break;
    }
    const refused = "the server ended the connection of a conforming client";
    if (closed) {
      const outcome = goaway ? "goaway+closed" : "closed";
      return c.conforming ? { problem: refused, outcome } : { outcome };
    }
    if (!c.framed) return { outcome: goaway ? "goaway" : "open" };
    await client.write(rawFrame(T.PING, 0, 0, PROBE)).catch(() => {});
    try {
      const f = await client.until(
        (f) =>
          f.type === T.GOAWAY ||
          (f.type === T.PING && (f.flags & 1) === 1 && f.payload.every((x, i) => x === PROBE[i])),
        3000,
      );
      if (f.type !== T.GOAWAY) return { outcome: "probe: ack" };
      return c.conforming
        ? { problem: refused, outcome: "probe: goaway" }
        : { outcome: "probe: goaway" };
    } catch (err) {
      if (/closed/.test((err as Error).message)) return { outcome: "probe: closed" };
      return {
        problem: "the connection neither answered a PING nor closed within 3 s",
        outcome: "stalled",
      };
    }
  } finally {
    await client.close();
  }
}

Deno.test({
  name: "fuzz: raw HTTP/2 frame sequences never crash the member or lose a write",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const plan = fuzzPlan("h2-frames", "tests/fuzz/h2_frames_fuzz_test.ts", {
      cases: 800,
      budgetMs: 20_000,
    });
    const target = await LiveTarget.start("h2");
    const outcomes = new Map<string, number>();
    try {
      const m = target.member;
      await forEachBatch(plan, BATCH, async (from, to) => {
        let next = from;
        await Promise.all(Array.from({ length: PARALLEL }, async () => {
          while (next <= to) {
            const index = next++;
            const rng = caseRng(plan, index);
            const peer = rng.chance(0.2);
            const c = frameCase(rng);
            const port = peer ? m.peerPort : m.clientPort;
            const { problem, outcome } = await runCase(port, c);
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
            trace(
              plan,
              index,
              `${peer ? "peer" : "client"} port: ${c.what.join("; ")} -> ${outcome}`,
            );
            if (problem) {
              throw new FuzzFailure(
                plan,
                index,
                index,
                `${problem} (${peer ? "peer" : "client"} port)\n  frames: ${
                  c.what.join("\n          ")
                }`,
              );
            }
          }
        }));
        const problem = await target.problem();
        if (problem) {
          const index = m.running ? undefined : await target.culprit(from, to, (i) => {
            const rng = caseRng(plan, i);
            const peer = rng.chance(0.2);
            return runCase(peer ? m.peerPort : m.clientPort, frameCase(rng));
          });
          if (index === undefined) throw new FuzzFailure(plan, from, to, problem);
          const rng = caseRng(plan, index);
          const peer = rng.chance(0.2);
          throw new FuzzFailure(
            plan,
            index,
            index,
            `${problem}\n  alone, case ${index} stops the member (${
              peer ? "peer" : "client"
            } port):` +
              `\n  frames: ${frameCase(rng).what.join("\n          ")}`,
          );
        }
      });
      const lost = await target.durabilityProblem();
      if (lost) throw new FuzzFailure(plan, plan.first, plan.end - 1, lost);
      console.log(`fuzz h2-frames outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    } finally {
      await target.destroy();
    }
  },
});
