//! The demo's seeded past: items already under way when the console opens, started
//! through the engine with a back-dated clock (`since`) so that some are comfortably
//! ahead, some at risk, some critical and a few breached, and some cross a line in the
//! first minute.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::load::Kind;

/// One item of the past: its kind and how much of its SLA it has used at the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seeded {
    pub kind: Kind,
    /// Share of the SLA used when the demo opens (above 1: already breached).
    pub used: f64,
    /// The legacy-billing alert, whose paging is refused: an incident for an operator.
    pub stuck: bool,
}

/// How many of each kind, and where in their SLA: (kind, least used, most used, count).
const BANDS: [(Kind, f64, f64, usize); 11] = [
    (Kind::Invoice, 0.10, 0.35, 2),
    // Crosses the 50% warning within seconds.
    (Kind::Invoice, 0.45, 0.49, 1),
    (Kind::Invoice, 0.55, 0.72, 2),
    // Turns critical (90%) within seconds.
    (Kind::Invoice, 0.84, 0.89, 1),
    // Critical: breaches in the first minute unless someone approves it.
    (Kind::Invoice, 0.90, 0.95, 1),
    // Breaches within seconds.
    (Kind::Invoice, 0.97, 0.99, 1),
    (Kind::Invoice, 1.05, 1.50, 2),
    (Kind::Incident, 0.05, 0.20, 1),
    (Kind::Incident, 0.35, 0.60, 1),
    (Kind::Incident, 0.80, 0.90, 1),
    (Kind::Incident, 1.10, 1.60, 1),
];
/// Where the stuck legacy-billing incident is: at risk, breaching within the minute.
const STUCK: (f64, f64) = (0.55, 0.70);
/// Onboardings start fresh, at the estate's real pace, so some are visibly running.
const FRESH_ONBOARDINGS: usize = 2;

/// The past for `seed`, oldest first (as the ids of a real past would be).
pub fn plan(seed: u64) -> Vec<Seeded> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x005e_ed0f_7a57);
    let mut out = Vec::new();
    for (kind, lo, hi, n) in BANDS {
        for _ in 0..n {
            let used = rng.random_range(lo..hi);
            out.push(Seeded {
                kind,
                used,
                stuck: false,
            });
        }
    }
    out.push(Seeded {
        kind: Kind::Incident,
        used: rng.random_range(STUCK.0..STUCK.1),
        stuck: true,
    });
    out.sort_by(|a, b| b.used.total_cmp(&a.used));
    out.extend((0..FRESH_ONBOARDINGS).map(|_| Seeded {
        kind: Kind::Onboarding,
        used: 0.0,
        stuck: false,
    }));
    out
}

/// When an item that has used `used` of an SLA of `due` started its clock, if earlier
/// than `now`.
pub fn since(now: DateTime<Utc>, used: f64, due: Option<Duration>) -> Option<DateTime<Utc>> {
    let due = due?;
    if !(used > 0.0 && used.is_finite()) {
        return None;
    }
    let back = chrono::Duration::from_std(due.mul_f64(used.min(10.0))).ok()?;
    now.checked_sub_signed(back)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(plan: &[Seeded], f: impl Fn(&Seeded) -> bool) -> usize {
        plan.iter().filter(|s| f(s)).count()
    }

    #[test]
    fn the_same_seed_plans_the_same_past_and_another_seed_another() {
        assert_eq!(plan(7), plan(7));
        assert_ne!(plan(7), plan(8));
    }

    #[test]
    fn every_sla_state_is_there_from_the_start() {
        for seed in [0, 7, 42, u64::MAX] {
            let p = plan(seed);
            let invoices = |f: fn(f64) -> bool| count(&p, |s| s.kind == Kind::Invoice && f(s.used));
            assert!(invoices(|u| u < 0.5) >= 2, "ahead");
            assert!(invoices(|u| (0.5..0.9).contains(&u)) >= 2, "at risk");
            assert!(invoices(|u| (0.9..1.0).contains(&u)) >= 2, "critical");
            assert!(invoices(|u| u > 1.0) >= 2, "breached");
            assert!(count(&p, |s| s.kind == Kind::Incident && s.used > 1.0) >= 1);
            assert_eq!(count(&p, |s| s.stuck), 1);
            assert_eq!(
                count(&p, |s| s.kind == Kind::Onboarding && s.used == 0.0),
                2
            );
        }
    }

    #[test]
    fn some_cross_a_line_within_the_first_minute() {
        // At the demo's scale an invoice's SLA is 8 minutes: a minute is 12.5% of it.
        let minute = 60.0 / 480.0;
        for seed in [1, 7, 99] {
            let p = plan(seed);
            let crossing = |line: f64| {
                count(&p, |s| {
                    s.kind == Kind::Invoice && s.used < line && s.used + minute / 2.0 > line
                })
            };
            assert!(crossing(0.5) >= 1, "an invoice warns within 30 s");
            assert!(crossing(0.9) >= 1, "an invoice turns critical within 30 s");
            assert!(crossing(1.0) >= 1, "an invoice breaches within 30 s");
        }
    }

    #[test]
    fn the_past_is_oldest_first_then_the_fresh_onboardings() {
        let p = plan(3);
        let back: Vec<f64> = p.iter().map(|s| s.used).collect();
        let seeded = back.len() - FRESH_ONBOARDINGS;
        assert!(back[..seeded].windows(2).all(|w| w[0] >= w[1]), "{back:?}");
    }

    #[test]
    fn since_is_that_share_of_the_sla_back() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let eight_min = Some(Duration::from_secs(480));
        assert_eq!(
            since(now, 0.5, eight_min),
            Some(now - chrono::Duration::seconds(240))
        );
        assert_eq!(since(now, 0.0, eight_min), None, "fresh");
        assert_eq!(since(now, 0.5, None), None, "no SLA, nothing to back-date");
        assert_eq!(since(now, f64::NAN, eight_min), None);
        assert_eq!(
            since(now, 1e9, eight_min),
            Some(now - chrono::Duration::seconds(4800)),
            "at most ten SLAs back"
        );
    }
}
