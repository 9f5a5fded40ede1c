import assert from "node:assert/strict";
import { ConfigError } from "./error.ts";
import { formatDurationMs, parseDurationMs, toDurationMs, toInt, toUint } from "./values.ts";

const flag = (value: string) => ({ value, where: "flag -x" });

Deno.test("values: Go durations in and out", () => {
  assert.equal(parseDurationMs("1h30m"), 5400000);
  assert.equal(parseDurationMs("1.5s"), 1500);
  assert.equal(parseDurationMs(".5s"), 500);
  assert.equal(parseDurationMs("1500us"), 2); // rounded to whole milliseconds
  assert.equal(parseDurationMs("2000000000ns"), 2000);
  assert.equal(parseDurationMs("10"), undefined);
  assert.equal(parseDurationMs("1d"), undefined);
  assert.equal(toDurationMs(flag("-1m")), -60000);
  assert.throws(() => toDurationMs(flag("soon")), ConfigError);
  for (
    const [ms, text] of [
      [0, "0s"],
      [100, "100ms"],
      [1500, "1.5s"],
      [60000, "1m0s"],
      [90000, "1m30s"],
      [7200000, "2h0m0s"],
      [-5000, "-5s"],
    ] as const
  ) {
    assert.equal(formatDurationMs(ms), text);
  }
});

Deno.test("values: integers like strconv with base prefixes and ranges", () => {
  assert.equal(toUint(flag("0x10")), 16);
  assert.equal(toUint(flag("0o17")), 15);
  assert.equal(toUint(flag("4294967295"), 0xffff_ffff), 4294967295);
  assert.throws(() => toUint(flag("4294967296"), 0xffff_ffff), {
    message: 'invalid value "4294967296" for flag -x: value out of range',
  });
  assert.throws(() => toUint(flag("-1")), { message: /parse error/ });
  assert.equal(toInt(flag("-0x10")), -16);
  assert.equal(toInt(flag("+7")), 7);
  assert.throws(() => toInt(flag("1e3")), { message: /parse error/ });
});
