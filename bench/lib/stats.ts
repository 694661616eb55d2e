// Summaries the benchmark reports: quantiles over samples (linear
// interpolation between closest ranks), the busiest sliding window of a set
// of timestamps, and quantiles estimated from a Prometheus histogram.

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0] ?? NaN,
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    max: s[s.length - 1] ?? NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}

/** The most timestamps (ms) that fall in any half-open window [t, t + windowMs). */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const s = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < s.length; hi++) {
    while (s[hi]! - s[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

export interface Bucket {
  le: number;
  /** Cumulative count, as Prometheus exposes it. */
  count: number;
}

/** Like PromQL's histogram_quantile: linear interpolation inside the bucket the rank falls in. */
export function histogramQuantile(buckets: readonly Bucket[], q: number): { estimate: number; bucketUpperBound: number } {
  const b = [...buckets].sort((x, y) => x.le - y.le);
  const total = b[b.length - 1]?.count ?? 0;
  if (total === 0) return { estimate: NaN, bucketUpperBound: NaN };
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of b) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return { estimate: prevLe, bucketUpperBound: Infinity };
      const inBucket = count - prevCount;
      const estimate = inBucket === 0 ? le : prevLe + (le - prevLe) * ((rank - prevCount) / inBucket);
      return { estimate, bucketUpperBound: le };
    }
    prevLe = le;
    prevCount = count;
  }
  return { estimate: prevLe, bucketUpperBound: Infinity };
}

export function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
