//! What the numbers of `tempi report` and `/metrics` count: per workflow and minute, as
//! events apply (`Tally`, committed beside the records as rollups), the running totals
//! since the journal began (`Totals`), and the histogram durations are kept in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

/// Seconds in a rollup bucket: minutes while recent, then hours, then days (see
/// `store::rollups`).
pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// Bucket bounds per decade, in tenths: 16 a decade, neighbours at most 25% apart.
const MANTISSAS: [u64; 16] = [
    10, 12, 14, 16, 18, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90,
];
/// Decades from 1 ms up (the last bound is 90,000,000 s, almost three years).
const DECADES: usize = 11;
/// Finite bounds; bucket `BOUNDS` counts everything above the last.
pub const BOUNDS: usize = MANTISSAS.len() * DECADES;

/// The upper bound of bucket `i` in microseconds (`None` for the overflow bucket).
pub fn bound_us(i: usize) -> Option<u64> {
    (i < BOUNDS)
        .then(|| MANTISSAS[i % MANTISSAS.len()] * 100 * 10u64.pow((i / MANTISSAS.len()) as u32))
}

/// The bucket a duration falls in: the first whose bound is at or above it.
pub fn bucket_of(us: u64) -> usize {
    // A binary search over the bounds, which grow with `i`.
    let (mut lo, mut hi) = (0, BOUNDS);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if bound_us(mid).is_some_and(|b| b >= us) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Durations counted per bucket (sparse: only buckets that were hit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hist {
    pub buckets: BTreeMap<u16, u64>,
    pub count: u64,
    /// The sum in microseconds (saturating).
    pub sum_us: u64,
}

impl Hist {
    pub fn add(&mut self, us: u64) {
        *self.buckets.entry(bucket_of(us) as u16).or_default() += 1;
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    pub fn merge(&mut self, other: &Hist) {
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
        self.count += other.count;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }

    /// The `q` quantile (0..=1) in seconds, interpolated within its bucket as
    /// Prometheus's `histogram_quantile` does (one duration is given exactly); `None`
    /// when empty. Within a quarter of the true value, as neighbouring bounds are.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        if self.count == 1 {
            return Some(self.sum_us as f64 / 1e6);
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut below = 0u64;
        for (&b, &n) in &self.buckets {
            let b = b as usize;
            if (below + n) as f64 >= rank {
                let lo = if b == 0 {
                    0
                } else {
                    bound_us(b - 1).unwrap_or(0)
                };
                let Some(hi) = bound_us(b) else {
                    return Some(lo as f64 / 1e6);
                };
                let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some((lo as f64 + (hi - lo) as f64 * within) / 1e6);
            }
            below += n;
        }
        // Rounding left the rank past the last bucket: the top of the last one.
        let last = *self.buckets.keys().next_back()? as usize;
        Some(
            bound_us(last)
                .or(bound_us(last.saturating_sub(1)))
                .unwrap_or(0) as f64
                / 1e6,
        )
    }

    /// How many durations are at or below `le_us` (one of the bounds).
    pub fn at_or_below(&self, le_us: u64) -> u64 {
        self.buckets
            .iter()
            .take_while(|(b, _)| bound_us(**b as usize).is_some_and(|x| x <= le_us))
            .map(|(_, n)| n)
            .sum()
    }
}

/// What happened to one workflow's items in one bucket of time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Incidents raised (every one, also a second on the same item).
    pub incidents: u64,
    /// SLA deadlines that passed while the item was in flight.
    pub breached: u64,
    /// Items with an SLA that completed or failed by their deadline.
    pub sla_met: u64,
    /// Items with an SLA that completed or failed after it.
    pub sla_missed: u64,
    /// Start to end of the items that completed.
    pub cycle: Hist,
    /// Creation to decision of the human tasks decided.
    pub wait: Hist,
}

impl Counts {
    pub fn merge(&mut self, o: &Counts) {
        self.started += o.started;
        self.completed += o.completed;
        self.failed += o.failed;
        self.cancelled += o.cancelled;
        self.incidents += o.incidents;
        self.breached += o.breached;
        self.sla_met += o.sla_met;
        self.sla_missed += o.sla_missed;
        self.cycle.merge(&o.cycle);
        self.wait.merge(&o.wait);
    }

    /// Items that completed or failed by their SLA deadline, percent of those with one.
    pub fn sla_met_pct(&self) -> Option<f64> {
        let all = self.sla_met + self.sla_missed;
        (all > 0).then(|| self.sla_met as f64 * 100.0 / all as f64)
    }
}

/// One thing to count, as an event applies.
#[derive(Debug, Clone, Copy)]
pub enum Fact {
    Started,
    Completed {
        cycle_us: u64,
    },
    Failed,
    Cancelled,
    Incident,
    Breached,
    /// An item with an SLA ended (completed or failed), by its deadline or not.
    Sla {
        met: bool,
    },
    Decided {
        wait_us: u64,
    },
}

impl Fact {
    fn add_to(self, c: &mut Counts) {
        match self {
            Fact::Started => c.started += 1,
            Fact::Completed { cycle_us } => {
                c.completed += 1;
                c.cycle.add(cycle_us);
            }
            Fact::Failed => c.failed += 1,
            Fact::Cancelled => c.cancelled += 1,
            Fact::Incident => c.incidents += 1,
            Fact::Breached => c.breached += 1,
            Fact::Sla { met: true } => c.sla_met += 1,
            Fact::Sla { met: false } => c.sla_missed += 1,
            Fact::Decided { wait_us } => c.wait.add(wait_us),
        }
    }
}

/// The minute `at` falls in, as seconds since the epoch.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(MINUTE) * MINUTE
}

/// Microseconds from `a` to `b` (0 when `b` is earlier).
pub fn micros_between(a: DateTime<Utc>, b: DateTime<Utc>) -> u64 {
    (b - a).num_microseconds().unwrap_or(i64::MAX).max(0) as u64
}

/// Counts not yet committed, per workflow and minute: what the store adds to its rollups
/// in the same transaction as the records they came from.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub rows: HashMap<String, BTreeMap<i64, Counts>>,
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn add(&mut self, workflow: &str, at: DateTime<Utc>, fact: Fact) {
        let minutes = match self.rows.get_mut(workflow) {
            Some(m) => m,
            None => self.rows.entry(workflow.to_string()).or_default(),
        };
        fact.add_to(minutes.entry(minute_of(at)).or_default());
    }
}

/// Everything counted since the journal began, per workflow (seeded from the rollups at
/// start), and step durations per workflow and step since this engine started.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub workflows: BTreeMap<String, Counts>,
    pub steps: BTreeMap<String, BTreeMap<String, Hist>>,
}

impl Totals {
    pub fn add(&mut self, workflow: &str, fact: Fact) {
        let c = match self.workflows.get_mut(workflow) {
            Some(c) => c,
            None => self.workflows.entry(workflow.to_string()).or_default(),
        };
        fact.add_to(c);
    }

    pub fn add_step(&mut self, workflow: &str, step: &str, us: u64) {
        let steps = match self.steps.get_mut(workflow) {
            Some(s) => s,
            None => self.steps.entry(workflow.to_string()).or_default(),
        };
        match steps.get_mut(step) {
            Some(h) => h.add(us),
            None => steps.entry(step.to_string()).or_default().add(us),
        }
    }

    /// `Counts::sla_met_pct` over all workflows (without adding up their histograms).
    pub fn sla_met_pct(&self) -> Option<f64> {
        let (met, missed) = self
            .workflows
            .values()
            .fold((0, 0), |(a, b), c| (a + c.sla_met, b + c.sla_missed));
        let all = met + missed;
        (all > 0).then(|| met as f64 * 100.0 / all as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_grow_and_buckets_find_them() {
        let mut last = 0;
        for i in 0..BOUNDS {
            let b = bound_us(i).unwrap();
            assert!(b > last, "bound {i}");
            assert!(
                b as f64 <= last as f64 * 1.25 + 1.0 || last == 0,
                "bound {i} too far"
            );
            assert_eq!(bucket_of(b), i);
            assert_eq!(bucket_of(b + 1), i + 1);
            last = b;
        }
        assert_eq!(bound_us(0), Some(1000), "the first bound is 1 ms");
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(u64::MAX), BOUNDS);
        assert_eq!(bound_us(BOUNDS), None);
    }

    #[test]
    fn quantiles_land_within_the_bucket_of_the_true_value() {
        let mut h = Hist::default();
        // 1..=100 seconds: p50 is 50 s, p95 95 s.
        for s in 1..=100u64 {
            h.add(s * 1_000_000);
        }
        let p50 = h.quantile(0.5).unwrap();
        let p95 = h.quantile(0.95).unwrap();
        assert!((45.0..=50.0).contains(&p50), "{p50}");
        assert!((90.0..=100.0).contains(&p95), "{p95}");
        assert_eq!(h.count, 100);
        assert_eq!(h.sum_us, 5050 * 1_000_000);
        assert_eq!(Hist::default().quantile(0.5), None);
        // One value: exactly it.
        let mut one = Hist::default();
        one.add(30_010_000);
        assert_eq!(one.quantile(0.5), Some(30.01));
        assert_eq!(one.quantile(0.95), Some(30.01));
    }

    #[test]
    fn at_or_below_counts_cumulatively() {
        let mut h = Hist::default();
        for us in [500, 1_000, 2_000_000, 60_000_000] {
            h.add(us);
        }
        assert_eq!(h.at_or_below(1_000), 2);
        assert_eq!(h.at_or_below(2_500_000), 3);
        assert_eq!(h.at_or_below(100_000_000), 4);
    }

    #[test]
    fn sla_met_pct_is_none_without_sla_items() {
        let mut c = Counts::default();
        assert_eq!(c.sla_met_pct(), None);
        Fact::Sla { met: true }.add_to(&mut c);
        Fact::Sla { met: true }.add_to(&mut c);
        Fact::Sla { met: false }.add_to(&mut c);
        let pct = c.sla_met_pct().unwrap();
        assert!((pct - 200.0 / 3.0).abs() < 1e-9);
    }
}
