import assert from "node:assert/strict";
import { type Message, MessageType } from "../raft/types.ts";
import { HeartbeatWatch } from "./heartbeat_watch.ts";

function watch(now: () => number) {
  const warned: [string, Record<string, unknown>][] = [];
  let failures = 0;
  const w = new HeartbeatWatch({
    heartbeatIntervalMs: 100,
    now,
    log: { warn: (msg, fields) => warned.push([msg, { ...fields }]) },
    failures: { inc: () => failures++ },
  });
  return { w, warned, failures: () => failures };
}

Deno.test("a heartbeat more than twice the interval after the last one to the same follower is late", () => {
  let now = 1000;
  const { w } = watch(() => now);
  assert.equal(w.observe(2n), undefined, "the first heartbeat has nothing to compare with");
  assert.equal(w.observe(3n), undefined);
  now += 200;
  assert.equal(w.observe(2n), undefined, "exactly twice the interval is on time");
  now += 150;
  assert.equal(w.observe(2n), undefined);
  now += 450;
  assert.deepEqual(w.observe(2n), { to: 2n, exceededMs: 250 });
  assert.deepEqual(w.observe(3n), { to: 3n, exceededMs: 600 }, "each follower has its own clock");
  now += 1000;
  w.reset();
  assert.equal(w.observe(2n), undefined, "a new leadership starts afresh");
});

Deno.test("late heartbeats are logged as etcd logs them and counted; other messages are ignored", () => {
  let now = 0;
  const { w, warned, failures } = watch(() => now);
  const msg = (type: MessageType, to: bigint) => ({ type, to }) as Message;
  w.check([msg(MessageType.Heartbeat, 0x2an), msg(MessageType.App, 0x2bn)]);
  now = 450;
  w.check([msg(MessageType.App, 0x2an), msg(MessageType.Heartbeat, 0x2bn)]);
  assert.deepEqual(warned, [], "an append is not a heartbeat");
  w.check([msg(MessageType.Heartbeat, 0x2an)]);
  assert.deepEqual(warned, [[
    "leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk",
    {
      to: "2a",
      "heartbeat-interval": "100ms",
      "expected-duration": "200ms",
      "exceeded-duration": "250ms",
    },
  ]]);
  assert.equal(failures(), 1);
});
