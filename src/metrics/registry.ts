/**
 * A small Prometheus client: counters, gauges and histograms, with or
 * without labels, rendered in the text exposition format (version 0.0.4)
 * that Prometheus, promtool and etcd's dashboards read.
 *
 * Why not `prom-client` (npm): it runs on Deno, but every `inc()` of a
 * labelled series builds a string key from the label object and looks it
 * up (`hashObject` + a dictionary read), even through `labels(...)`
 * children, and validates the labels again. cairn counts on the put path,
 * which must stay as cheap as etcd's, so here a child is bound once
 * (`labels(...)` at set-up) and `inc()` is one addition on a field.
 *
 * ```ts
 * const reg = new Registry();
 * const puts = new Counter(reg, { name: "x_puts_total", help: "Puts." });
 * const sent = new Counter(reg, { name: "x_sent_total", help: "Sent.", labelNames: ["To"] });
 * const toB = sent.labels("b"); // bind once
 * puts.inc(); toB.inc(12);
 * await reg.render();
 * ```
 *
 * @module
 */

/** The metric types of the exposition format that cairn uses. */
export type MetricType = "counter" | "gauge" | "histogram";

/** One metric family: its name, help, type and how to print its samples. */
export interface Collector {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Appends the family's sample lines (without HELP/TYPE) to `out`. */
  collect(out: string[]): void | Promise<void>;
}

/** The metric families of one member, rendered together on /metrics. */
export class Registry {
  readonly #families = new Map<string, Collector>();
  readonly #beforeCollect: Array<() => void | Promise<void>> = [];

  /** Adds a family; a second family of the same name is a programming error. */
  register(c: Collector): void {
    if (this.#families.has(c.name)) throw new Error(`metric ${c.name} registered twice`);
    this.#families.set(c.name, c);
  }

  /** Runs `fn` before every scrape (to refresh gauges that are costly to keep current). */
  beforeCollect(fn: () => void | Promise<void>): void {
    this.#beforeCollect.push(fn);
  }

  /** The family named `name`, if registered. */
  get(name: string): Collector | undefined {
    return this.#families.get(name);
  }

  /** Every family, sorted by name as Prometheus' Go client prints them. */
  async render(): Promise<string> {
    for (const fn of this.#beforeCollect) await fn();
    const out: string[] = [];
    const names = [...this.#families.keys()].sort();
    for (const name of names) {
      const c = this.#families.get(name)!;
      const samples: string[] = [];
      await c.collect(samples);
      if (samples.length === 0) continue;
      out.push(`# HELP ${name} ${escapeHelp(c.help)}\n`, `# TYPE ${name} ${c.type}\n`);
      for (const s of samples) out.push(s);
    }
    return out.join("");
  }
}

/** What every metric is made with. */
export interface MetricOptions {
  name: string;
  help: string;
  /** Label names; a metric without them has exactly one series. */
  labelNames?: readonly string[];
}

/** Keeps one child per label-value tuple; binding happens off the hot path. */
abstract class Family<C> implements Collector {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #children = new Map<string, { labels: string; child: C }>();
  /** The child of a metric without labels. */
  protected readonly single: C | undefined;

  readonly #make: () => C;

  constructor(reg: Registry | undefined, opts: MetricOptions, make: () => C) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(opts.name)) {
      throw new Error(`invalid metric name ${opts.name}`);
    }
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames ?? [];
    this.#make = make;
    if (this.labelNames.length === 0) {
      this.single = make();
      this.#children.set("", { labels: "", child: this.single });
    }
    reg?.register(this);
  }

  protected abstract print(out: string[], labels: string, child: C): void;

  /**
   * The child for these label values, created on first use. Bind children
   * once and keep them: this lookup is what the hot path must not do.
   */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    }
    const key = values.join("\u0000");
    let entry = this.#children.get(key);
    if (entry === undefined) {
      const labels = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i])}"`).join(",");
      entry = { labels, child: this.#make() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Drops every child (a labelled gauge rebuilt at each scrape). */
  reset(): void {
    if (this.labelNames.length > 0) this.#children.clear();
  }

  /** Drops the child of these label values (a peer that left, say). */
  remove(...values: string[]): void {
    this.#children.delete(values.join("\u0000"));
  }

  collect(out: string[]): void {
    const entries = [...this.#children.values()].sort((a, b) =>
      a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0
    );
    for (const e of entries) this.print(out, e.labels, e.child);
  }
}

/** One series of a counter: only goes up. */
export class CounterChild {
  value = 0;
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
}

/** A monotonically increasing count. */
export class Counter extends Family<CounterChild> {
  readonly type = "counter";
  constructor(reg: Registry | undefined, opts: MetricOptions) {
    super(reg, opts, () => new CounterChild());
  }
  protected print(out: string[], labels: string, c: CounterChild): void {
    out.push(sample(this.name, labels, c.value));
  }
  /** Adds `n` to the series of a metric without labels. */
  inc(n = 1): void {
    this.single!.value += n;
  }
  /** The value of the series of a metric without labels. */
  get value(): number {
    return this.single!.value;
  }
}

/** One series of a gauge. */
export class GaugeChild {
  value = 0;
  /** Sets the value. */
  set(v: number): void {
    this.value = v;
  }
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
  }
}

/** Options of a gauge; `read` makes it a gauge function read at scrape time. */
export interface GaugeOptions extends MetricOptions {
  /** Reads the value at every scrape (only for gauges without labels). */
  read?: () => number;
}

/** A value that goes up and down. */
export class Gauge extends Family<GaugeChild> {
  readonly type = "gauge";
  readonly #read: (() => number) | undefined;
  constructor(reg: Registry | undefined, opts: GaugeOptions) {
    super(reg, opts, () => new GaugeChild());
    this.#read = opts.read;
  }
  protected print(out: string[], labels: string, c: GaugeChild): void {
    out.push(sample(this.name, labels, this.#read && labels === "" ? this.#read() : c.value));
  }
  /** Sets the series of a metric without labels. */
  set(v: number): void {
    this.single!.value = v;
  }
  /** Adds to the series of a metric without labels. */
  inc(n = 1): void {
    this.single!.value += n;
  }
  /** Subtracts from the series of a metric without labels. */
  dec(n = 1): void {
    this.single!.value -= n;
  }
  /** The current value of the series of a metric without labels. */
  get value(): number {
    return this.#read ? this.#read() : this.single!.value;
  }
}

/** One series of a histogram: cumulative only when printed. */
export class HistogramChild {
  readonly #bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation. */
  observe(v: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** Options of a histogram. */
export interface HistogramOptions extends MetricOptions {
  /** Upper bounds of the buckets, ascending (+Inf is implied). */
  buckets: readonly number[];
}

/** A distribution of observations in fixed buckets. */
export class Histogram extends Family<HistogramChild> {
  readonly type = "histogram";
  readonly buckets: readonly number[];
  readonly #le: string[];
  constructor(reg: Registry | undefined, opts: HistogramOptions) {
    const buckets = ascending(opts.name, opts.buckets);
    super(reg, opts, () => new HistogramChild(buckets));
    this.buckets = buckets;
    this.#le = [...buckets.map(formatValue), "+Inf"];
  }
  protected print(out: string[], labels: string, c: HistogramChild): void {
    const sep = labels === "" ? "" : ",";
    let cumulative = 0;
    for (let i = 0; i < this.#le.length; i++) {
      cumulative += c.counts[i];
      out.push(
        `${this.name}_bucket{${labels}${sep}le="${this.#le[i]}"} ${formatValue(cumulative)}\n`,
      );
    }
    out.push(sample(`${this.name}_sum`, labels, c.sum));
    out.push(sample(`${this.name}_count`, labels, c.count));
  }
  /** Records one observation in the series of a metric without labels. */
  observe(v: number): void {
    this.single!.observe(v);
  }
  /** The series of a metric without labels. */
  get series(): HistogramChild {
    return this.single!;
  }
}

/** `count` bucket bounds starting at `start`, each `factor` times the last (Prometheus' helper). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let v = start;
  for (let i = 0; i < count; i++) {
    out.push(v);
    v *= factor;
  }
  return out;
}

function ascending(name: string, buckets: readonly number[]): number[] {
  for (let i = 1; i < buckets.length; i++) {
    if (!(buckets[i] > buckets[i - 1])) throw new Error(`${name}: buckets not ascending`);
  }
  return [...buckets];
}

function sample(name: string, labels: string, value: number): string {
  return labels === ""
    ? `${name} ${formatValue(value)}\n`
    : `${name}{${labels}} ${formatValue(value)}\n`;
}

/**
 * A float as Go's exposition writes it (`strconv.FormatFloat(v, 'g', -1,
 * 64)`): the shortest digits, in exponent form when the decimal exponent
 * is below -4 or at least 6 ("2.147483648e+09", "1e-07"), and +Inf, -Inf, NaN.
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return "0";
  const e = v.toExponential();
  const at = e.indexOf("e");
  const exp = Number(e.slice(at + 1));
  // Inside Go's fixed range JS prints the same shortest digits.
  if (exp >= -4 && exp < 6) return String(v);
  const digits = String(Math.abs(exp));
  return `${e.slice(0, at)}e${exp < 0 ? "-" : "+"}${digits.length < 2 ? "0" + digits : digits}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
