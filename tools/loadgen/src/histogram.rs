//! A small log-linear histogram for latencies, in the spirit of HDR histograms: every
//! power of two is cut into 128 equal buckets, so any value is known to within 1/128
//! (< 0.8 %) and values below 128 exactly. It covers the whole `u64` range in 7424
//! counters (58 KiB), however many samples are recorded, so a ten-million-message run
//! costs no more memory than a ten-message one.

/// log2 of the number of buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Values below `SUB` get a bucket each; each of the 57 powers of two from `2^7` up gets
/// `SUB` more.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB as usize;

/// Counts of recorded values (the unit is the caller's; the load generator uses
/// microseconds).
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += u128::from(value);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest value recorded, exactly (not rounded to its bucket).
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value at percentile `p` (0 to 100) by the nearest-rank rule: the smallest
    /// recorded value such that at least `p` % of all values are less than or equal to
    /// it. Reported as the top of its bucket (never above the true maximum), so a
    /// percentile is never flattered by the rounding.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = nearest_rank(p, self.count);
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(highest_in_bucket(bucket).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// The 1-based rank of percentile `p` among `count` sorted values: ceil(p/100 * count),
/// at least 1 and at most `count`.
pub fn nearest_rank(p: f64, count: u64) -> u64 {
    let exact = p.clamp(0.0, 100.0) / 100.0 * count as f64;
    // 99.9 % of 1000 is 999.0000000000001 in floating point; without the nudge its
    // ceiling would be one rank too high.
    ((exact * (1.0 - 1e-12)).ceil() as u64).clamp(1, count)
}

fn bucket_of(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    // The top SUB_BITS + 1 bits of the value pick the bucket; `shift` says how many low
    // bits were dropped, which is which power of two the value is in.
    let shift = (63 - value.leading_zeros()) - SUB_BITS;
    let mantissa = value >> shift; // in SUB..2*SUB
    ((u64::from(shift) + 1) * SUB + (mantissa - SUB)) as usize
}

fn highest_in_bucket(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB {
        return bucket;
    }
    let shift = bucket / SUB - 1;
    let lowest = (SUB + bucket % SUB) << shift;
    lowest.saturating_add((1u64 << shift) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact_and_buckets_are_contiguous() {
        for value in 0..4096 {
            let bucket = bucket_of(value);
            assert!(highest_in_bucket(bucket) >= value);
            if value < 256 {
                assert_eq!(highest_in_bucket(bucket), value);
            }
            if value > 0 {
                let previous = bucket_of(value - 1);
                assert!(
                    bucket == previous || bucket == previous + 1,
                    "gap at {value}"
                );
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(highest_in_bucket(BUCKETS - 1), u64::MAX);
    }

    #[test]
    fn rounding_stays_under_one_percent() {
        for value in [300u64, 1_000, 12_345, 999_999, 40_000_000, 1 << 40] {
            let top = highest_in_bucket(bucket_of(value));
            assert!(top >= value);
            assert!(
                (top - value) as f64 / value as f64 <= 1.0 / 128.0,
                "{value}"
            );
        }
    }

    #[test]
    fn nearest_rank_rule() {
        assert_eq!(nearest_rank(50.0, 10), 5);
        assert_eq!(nearest_rank(90.0, 10), 9);
        assert_eq!(nearest_rank(99.0, 10), 10);
        assert_eq!(nearest_rank(0.0, 10), 1);
        assert_eq!(nearest_rank(100.0, 10), 10);
        assert_eq!(nearest_rank(99.9, 1000), 999);
    }

    #[test]
    fn percentiles_of_one_to_a_hundred_are_exact() {
        let mut histogram = Histogram::new();
        for value in (1..=100).rev() {
            histogram.record(value);
        }
        assert_eq!(histogram.percentile(50.0), Some(50));
        assert_eq!(histogram.percentile(90.0), Some(90));
        assert_eq!(histogram.percentile(99.0), Some(99));
        assert_eq!(histogram.percentile(100.0), Some(100));
        assert_eq!((histogram.min(), histogram.max()), (Some(1), Some(100)));
        assert_eq!(histogram.mean(), Some(50.5));
    }

    #[test]
    fn percentiles_of_large_values_are_close_and_never_low() {
        let mut histogram = Histogram::new();
        for value in 1..=100_000u64 {
            histogram.record(value * 10);
        }
        for (p, exact) in [(50.0, 500_000u64), (90.0, 900_000), (99.0, 990_000)] {
            let got = histogram.percentile(p).unwrap();
            assert!(got >= exact, "p{p}: {got} < {exact}");
            assert!(
                (got - exact) as f64 / exact as f64 <= 1.0 / 128.0,
                "p{p}: {got}"
            );
        }
        assert_eq!(histogram.percentile(100.0), Some(1_000_000));
    }

    #[test]
    fn a_tail_shows_in_p99_not_p50() {
        let mut histogram = Histogram::new();
        for _ in 0..980 {
            histogram.record(10);
        }
        for _ in 0..20 {
            histogram.record(5_000);
        }
        assert_eq!(histogram.percentile(50.0), Some(10));
        assert_eq!(histogram.percentile(98.0), Some(10));
        let p99 = histogram.percentile(99.0).unwrap();
        assert!((5_000..5_040).contains(&p99), "{p99}");
        assert_eq!(histogram.max(), Some(5_000));
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        let histogram = Histogram::new();
        assert_eq!(histogram.percentile(50.0), None);
        assert_eq!(histogram.max(), None);
        assert_eq!(histogram.mean(), None);
    }
}
