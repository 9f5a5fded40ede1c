/**
 * Fuzzes the request bodies of every RPC of the etcd v3 API against a live
 * member: random bytes, valid random requests and mutated ones, as gRPC
 * over HTTP/2, as Connect over HTTP/1.1 and as etcd's /v3 JSON gateway
 * (see rpc_cases.ts).
 *
 * Properties: every unary or server-streaming call gets an answer (a
 * response, a gRPC status or a reset) within 10 s; a gRPC answer carries a
 * valid grpc-status; the member keeps running and serving etcdctl after
 * each batch; every write it acknowledged survives to the end and through
 * a SIGKILL and restart.
 */
import assert from "node:assert/strict";
import { callBatch, type H2Call, header } from "./h2_calls.ts";
import { LiveTarget } from "./live.ts";
import { caseRng, forEachBatch, FuzzFailure, fuzzPlan, trace } from "./plan.ts";
import { type ConnectRequest, rpcCase } from "./rpc_cases.ts";
import { skipIfToolsMissing } from "../harness/tools.ts";

const ignore = skipIfToolsMissing("fuzz/rpc_fuzz_test.ts");
const ANSWER_MS = 10_000;
const BATCH = 40;

/** Sends one Connect request; resolves to its HTTP status, or why it got none. */
async function sendConnect(baseUrl: string, req: ConnectRequest): Promise<string> {
  const ctl = new AbortController();
  const limit = req.streaming ? 300 : ANSWER_MS;
  const timer = setTimeout(() => ctl.abort(), limit);
  try {
    const res = await fetch(`${baseUrl}${req.path}`, {
      method: "POST",
      headers: req.headers,
      body: req.body.slice(),
      signal: ctl.signal,
    });
    const body = await res.text();
    return `${res.status} ${body.slice(0, 200)}`;
  } catch (err) {
    if (ctl.signal.aborted) return req.streaming ? "open (aborted)" : "no answer";
    return `error: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fns` with at most `n` at a time. */
async function limited<T>(n: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, fns.length) }, async () => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]();
    }
  }));
  return out;
}

Deno.test({
  name: "fuzz: gRPC and Connect bodies for every etcd RPC never crash the member or lose a write",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const plan = fuzzPlan("rpc-bodies", "tests/fuzz/rpc_fuzz_test.ts", {
      cases: 1200,
      budgetMs: 20_000,
    });
    const target = await LiveTarget.start("rpc");
    const statuses = new Map<string, number>();
    const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
    try {
      const { memberId } = await target.identity();
      const ctx = { selfId: memberId };
      const m = target.member;
      await forEachBatch(plan, BATCH, async (from, to) => {
        const grpc: { index: number; call: H2Call; what: string }[] = [];
        const connect: { index: number; request: ConnectRequest; what: string }[] = [];
        for (let i = from; i <= to; i++) {
          const c = rpcCase(caseRng(plan, i), ctx, m.endpoint);
          if (c.via === "grpc") grpc.push({ index: i, call: c.call, what: c.what });
          else connect.push({ index: i, request: c.request, what: c.what });
        }
        const [batch, answers] = await Promise.all([
          callBatch(m.clientPort, grpc.map((x) => x.call), ANSWER_MS),
          limited(6, connect.map((x) => () => sendConnect(m.clientUrl, x.request))),
        ]);
        for (const i of batch.unanswered) {
          const { index, what } = grpc[i];
          throw new FuzzFailure(plan, index, index, `no answer within ${ANSWER_MS} ms to ${what}`);
        }
        batch.outcomes.forEach((o, i) => {
          const { index, what } = grpc[i];
          if (o.ended && header(o, ":status") === "200") {
            const st = header(o, "grpc-status");
            if (st === undefined || !/^\d+$/.test(st) || Number(st) > 16) {
              throw new FuzzFailure(plan, index, index, `grpc-status ${st} answering ${what}`);
            }
            count(`grpc ${st}`);
            trace(plan, index, `${what} -> grpc ${st} ${header(o, "grpc-message") ?? ""}`);
          } else {
            const outcome = o.reset !== undefined
              ? `rst ${o.reset}`
              : o.lost ?? (o.ended ? `http ${header(o, ":status")}` : "open");
            count(outcome);
            trace(plan, index, `${what} -> ${outcome}`);
          }
        });
        answers.forEach((a, i) => {
          const { index, what } = connect[i];
          if (a === "no answer") {
            throw new FuzzFailure(
              plan,
              index,
              index,
              `no answer within ${ANSWER_MS} ms to ${what}`,
            );
          }
          count(
            `${what.startsWith("gateway") ? "gateway" : "connect"} ${
              a.startsWith("error") ? "error" : a.split(" ")[0]
            }`,
          );
          trace(plan, index, `${what} -> ${a}`);
        });
        const problem = await target.problem();
        if (problem) {
          // Replays the batch one case at a time to name the one that stops the member.
          const index = m.running ? undefined : await target.culprit(from, to, (i) => {
            const c = rpcCase(caseRng(plan, i), ctx, m.endpoint);
            return c.via === "grpc"
              ? callBatch(m.clientPort, [c.call], ANSWER_MS)
              : sendConnect(m.clientUrl, c.request);
          });
          const what = index === undefined
            ? ""
            : `\n  alone, case ${index} stops the member: ${
              rpcCase(caseRng(plan, index), ctx, m.endpoint).what
            }`;
          throw new FuzzFailure(plan, index ?? from, index ?? to, problem + what);
        }
      });
      const lost = await target.durabilityProblem();
      if (lost) throw new FuzzFailure(plan, plan.first, plan.end - 1, lost);
      console.log(`fuzz rpc-bodies outcomes: ${JSON.stringify(Object.fromEntries(statuses))}`);
      // The fuzzer must have reached the services, not only their front door.
      assert.ok(
        (statuses.get("grpc 0") ?? 0) > 0 || plan.end - plan.first < 100,
        "no call succeeded",
      );
    } finally {
      await target.destroy();
    }
  },
});
