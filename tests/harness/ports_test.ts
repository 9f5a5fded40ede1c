import assert from "node:assert/strict";
import { freePort } from "./ports.ts";

Deno.test("freePort: distinct, bindable ports below the kernel's ephemeral range, never 2379/2380", () => {
  const range = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
  const ephemeralStart = Number(range.trim().split(/\s+/)[0]);
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const port = freePort();
    assert.ok(port >= 10_000 && port < ephemeralStart, `port ${port}`);
    assert.ok(port !== 2379 && port !== 2380);
    assert.ok(!seen.has(port), `port ${port} handed out twice`);
    seen.add(port);
  }
  // Free when handed out: a listener binds it.
  const port = freePort();
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});
