/**
 * Tables of metric families: many of etcd's families are single-series
 * histograms that differ only in name, help and buckets, so they are
 * written as data and registered by one function instead of one
 * constructor call each.
 *
 * @module
 */
import { Histogram, type HistogramChild, type Registry } from "./registry.ts";

/** One histogram family without labels. */
export interface HistogramSpec {
  readonly name: string;
  readonly help: string;
  /** Upper bounds of the buckets, ascending (+Inf is implied). */
  readonly buckets: readonly number[];
}

/**
 * Registers one histogram per entry of `specs` and returns each one's
 * single series under the entry's key, so a recorder keeps the series
 * (observing costs no family lookup).
 */
export function histogramSeries<K extends string>(
  reg: Registry,
  specs: Readonly<Record<K, HistogramSpec>>,
): Record<K, HistogramChild> {
  const out = {} as Record<K, HistogramChild>;
  for (const key of Object.keys(specs) as K[]) out[key] = new Histogram(reg, specs[key]).series;
  return out;
}
