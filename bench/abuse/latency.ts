import { Histogram, build } from 'hdr-histogram-js';

/** Latency percentiles in ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Values in µs, 3 significant digits, up to 2 minutes. */
export function newHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

/** Records a duration given in ms. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

export function percentiles(h: Histogram): Percentiles {
  const at = (q: number) => (h.totalCount === 0 ? NaN : h.getValueAtPercentile(q) / 1000);
  return {
    count: h.totalCount,
    p50: at(50),
    p99: at(99),
    p999: at(99.9),
    max: h.totalCount === 0 ? NaN : h.maxValue / 1000,
  };
}
