/**
 * Fuzzes the peer port of a live member: `/raft/stream` and
 * `/raft/snapshot` requests with right and wrong sender headers and
 * random, valid or mutated message frames and snapshot bodies (see
 * peer_cases.ts). The fuzzer speaks as a learner it added to the cluster,
 * so authenticated cases reach the codec, the checks and Raft itself.
 *
 * Properties: a request whose headers do not name a member of this
 * cluster addressed to this member is refused with a 4xx status (it never
 * gets 200 or 204, and neither does a sender claiming to be the member
 * itself, which etcd refuses with 404); every request is answered or reset within 10 s; the
 * member keeps running and serving etcdctl after each batch (authenticated
 * messages are kept to what a member may send without being trusted:
 * no higher term, no proposed data); acknowledged writes survive to the
 * end and through a SIGKILL and restart.
 */
import { etcdctlOk } from "../harness/etcdctl.ts";
import { skipIfToolsMissing } from "../harness/tools.ts";
import { callBatch, header } from "./h2_calls.ts";
import { LiveTarget } from "./live.ts";
import { type PeerCase, peerCase, type PeerIdentity } from "./peer_cases.ts";
import { caseRng, forEachBatch, FuzzFailure, fuzzPlan, trace } from "./plan.ts";

const ignore = skipIfToolsMissing("fuzz/peer_fuzz_test.ts");
const BATCH = 40;
const ANSWER_MS = 10_000;

Deno.test({
  name: "fuzz: peer stream and snapshot requests never crash the member or lose a write",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const plan = fuzzPlan("peer", "tests/fuzz/peer_fuzz_test.ts", { cases: 800, budgetMs: 15_000 });
    const target = await LiveTarget.start("peer");
    const outcomes = new Map<string, number>();
    try {
      const m = target.member;
      // A learner at an address where nothing listens: a member the fuzzer can speak as.
      const added = await etcdctlOk(m.endpoint, [
        "member",
        "add",
        "fuzz-learner",
        "--learner",
        "--peer-urls=http://127.0.0.1:1",
      ]);
      // etcdctl prints the id with %16x: a leading zero nibble becomes a space.
      const learner = /Member +([0-9a-f]+) added/.exec(added)?.[1];
      if (!learner) throw new Error(`no member id in: ${added}`);
      const run = async (from: number, to: number) => {
        const { memberId, clusterId, term } = await target.identity();
        const id: PeerIdentity = {
          clusterId,
          self: memberId,
          sender: BigInt(`0x${learner}`),
          term,
        };
        const cases: { index: number; c: PeerCase }[] = [];
        for (let i = from; i <= to; i++) {
          cases.push({ index: i, c: peerCase(caseRng(plan, i), id) });
        }
        const { outcomes: got, unanswered } = await callBatch(
          m.peerPort,
          cases.map((x) => x.c.call),
          ANSWER_MS,
        );
        for (const k of unanswered) {
          throw new FuzzFailure(
            plan,
            cases[k].index,
            cases[k].index,
            `no answer within ${ANSWER_MS} ms to ${cases[k].c.what}`,
          );
        }
        got.forEach((o, k) => {
          const { index, c } = cases[k];
          const status = header(o, ":status");
          const outcome = status ?? (o.reset !== undefined ? `rst ${o.reset}` : o.lost ?? "?");
          const key = `${c.authenticated ? "auth" : "unauth"} ${outcome}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          trace(plan, index, `${c.what} -> ${outcome} ${header(o, "x-cairn-error") ?? ""}`);
          const accepted = status === "200" || status === "204";
          if ((c.fromSelf || !c.authenticated) && accepted) {
            throw new FuzzFailure(
              plan,
              index,
              index,
              `accepted (${status}) without valid sender headers: ${c.what}`,
            );
          }
        });
      };
      await forEachBatch(plan, BATCH, async (from, to) => {
        await run(from, to);
        const problem = await target.problem();
        if (problem) {
          const index = m.running ? undefined : await target.culprit(from, to, (i) => run(i, i));
          throw new FuzzFailure(plan, index ?? from, index ?? to, problem);
        }
      });
      const lost = await target.durabilityProblem();
      if (lost) throw new FuzzFailure(plan, plan.first, plan.end - 1, lost);
      console.log(`fuzz peer outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    } finally {
      await target.destroy();
    }
  },
});
