/**
 * A latency histogram in constant memory: exact below 256 µs, then 128 buckets per power
 * of two (under 1 % error), so millions of samples cost the same few kilobytes.
 */
const LINEAR = 256;
const SUB = 128;
const BUCKETS = LINEAR + (31 - 8) * SUB;

function indexOf(us: number): number {
  if (us < LINEAR) return us;
  const msb = 31 - Math.clz32(us);
  return LINEAR + (msb - 8) * SUB + ((us >>> (msb - 7)) - SUB);
}

/** The largest value (µs) that falls in a bucket. */
function upperOf(index: number): number {
  if (index < LINEAR) return index;
  const msb = Math.floor((index - LINEAR) / SUB) + 8;
  const sub = ((index - LINEAR) % SUB) + SUB;
  return ((sub + 1) << (msb - 7)) - 1;
}

export interface Summary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  private sum = 0;
  private maxUs = 0;

  /** Records a duration in milliseconds. */
  record(ms: number): void {
    const us = Math.min(0x7fffffff, Math.max(0, Math.round(ms * 1000)));
    this.counts[indexOf(us)]!++;
    this.count++;
    this.sum += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** The value (ms) at or below which `p` percent of the samples fall. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperOf(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  summary(): Summary {
    return {
      count: this.count,
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.count ? this.maxUs / 1000 : Number.NaN,
      mean: this.count ? this.sum / this.count / 1000 : Number.NaN,
    };
  }
}
