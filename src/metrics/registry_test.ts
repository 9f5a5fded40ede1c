import assert from "node:assert/strict";
import {
  Counter,
  exponentialBuckets,
  formatValue,
  Gauge,
  Histogram,
  Registry,
} from "./registry.ts";

Deno.test("registry renders families sorted, with HELP and TYPE, labels escaped", async () => {
  const reg = new Registry();
  const c = new Counter(reg, { name: "b_total", help: "B.", labelNames: ["To"] });
  new Gauge(reg, { name: "a", help: "A\nline.", read: () => 2.5e9 });
  c.labels('x"y\\z').inc(3);
  c.labels("a").inc();
  assert.equal(
    await reg.render(),
    "# HELP a A\\nline.\n# TYPE a gauge\na 2.5e+09\n" +
      "# HELP b_total B.\n# TYPE b_total counter\n" +
      'b_total{To="a"} 1\nb_total{To="x\\"y\\\\z"} 3\n',
  );
});

Deno.test("a labelled family without children prints nothing, not even HELP", async () => {
  const reg = new Registry();
  new Counter(reg, { name: "x_total", help: "X.", labelNames: ["l"] });
  assert.equal(await reg.render(), "");
});

Deno.test("histogram buckets are cumulative with +Inf, sum and count", async () => {
  const reg = new Registry();
  const h = new Histogram(reg, { name: "h_seconds", help: "H.", buckets: [0.1, 1] });
  for (const v of [0.05, 0.1, 0.5, 3]) h.observe(v);
  assert.equal(
    await reg.render(),
    "# HELP h_seconds H.\n# TYPE h_seconds histogram\n" +
      'h_seconds_bucket{le="0.1"} 2\nh_seconds_bucket{le="1"} 3\nh_seconds_bucket{le="+Inf"} 4\n' +
      "h_seconds_sum 3.65\nh_seconds_count 4\n",
  );
});

Deno.test("bound children are the same object and count without lookups", () => {
  const c = new Counter(undefined, { name: "c_total", help: "C.", labelNames: ["a", "b"] });
  const child = c.labels("1", "2");
  assert.equal(c.labels("1", "2"), child);
  child.inc();
  child.inc(2);
  assert.equal(child.value, 3);
  assert.throws(() => c.labels("1"));
});

Deno.test("registering a name twice and unsorted buckets are refused", () => {
  const reg = new Registry();
  new Counter(reg, { name: "dup_total", help: "." });
  assert.throws(() => new Counter(reg, { name: "dup_total", help: "." }));
  assert.throws(() => new Histogram(reg, { name: "h", help: ".", buckets: [1, 1] }));
});

Deno.test("values print as Go's exposition does", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(1e-7), "1e-07");
  assert.equal(formatValue(2147483648), "2.147483648e+09");
  assert.equal(formatValue(20480), "20480");
  assert.equal(formatValue(0.0001), "0.0001");
  assert.equal(formatValue(123456), "123456");
  assert.equal(formatValue(1234567), "1.234567e+06");
  assert.deepEqual(exponentialBuckets(0.001, 2, 3), [0.001, 0.002, 0.004]);
});
