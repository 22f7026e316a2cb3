//! Issuer policy: who must do how much work, and how much weight that work buys.
//!
//! PoW alone priced small devices out of IOTA (minutes per transaction on a Cortex-M), so the
//! integrator assigns **profiles**: an unregistered key pays the default (high) difficulty,
//! while a staked or gateway-vouched issuer may run at a low difficulty within a rate
//! allowance. Above its allowance every issuer pays more: the required difficulty rises by one
//! bit each time its recent rate doubles ([`IssuerPolicy::required_difficulty`]), so the work per
//! transaction doubles with the rate and flooding costs quadratically more.
//!
//! Rates are measured over the issuer's own **timestamps**, not arrival times, so every node
//! that saw the same issuer history requires the same difficulty. Timestamps cannot be used to
//! dodge the count: they must increase per issuer and lie within the clock drift of `now`.
//!
//! Own weight (what a transaction adds to the cumulative weight of everything it approves) is
//! `1 + stake bonus + extra declared bits`, all integers: stake buys weight linearly up to a
//! cap; extra work buys one unit per doubling, so weight grows with work but grinding is a
//! poor investment.

#[cfg(feature = "alloc")]
use alloc::collections::BTreeMap;

use itc_crypto::PublicKey;

/// Rules for one class of issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerProfile {
    /// Difficulty (leading zero bits) required while within the allowance.
    pub min_difficulty: u8,
    /// Stake backing this issuer, in base units (0 for plain devices).
    pub stake: u64,
    /// Transactions per rate window allowed at `min_difficulty`.
    pub allowance: u32,
    /// May publish `Anchor` payloads (anchoring gateways only).
    pub may_anchor: bool,
}

impl IssuerProfile {
    /// An unstaked device: PoW is its only credential.
    pub const fn device(min_difficulty: u8, allowance: u32) -> Self {
        IssuerProfile {
            min_difficulty,
            stake: 0,
            allowance,
            may_anchor: false,
        }
    }

    /// A staked issuer (or a device a staked gateway vouches for): low difficulty, weight from
    /// stake.
    pub const fn staked(min_difficulty: u8, stake: u64, allowance: u32) -> Self {
        IssuerProfile {
            min_difficulty,
            stake,
            allowance,
            may_anchor: false,
        }
    }
}

/// The integrator's policy: per-issuer profiles and the knobs of adaptive difficulty and weight.
///
/// ```
/// use itc_dag::{IssuerPolicy, IssuerProfile};
/// use itc_crypto::SecretKey;
/// let mut policy = IssuerPolicy::new(IssuerProfile::device(12, 10));
/// let gateway = SecretKey::from_bytes(&[3u8; 32]).unwrap().public_key();
/// policy.register(&gateway, IssuerProfile::staked(2, 50_000, 100));
/// let p = *policy.profile(&gateway);
/// assert_eq!(policy.required_difficulty(&p, 0), 2);     // within allowance
/// assert_eq!(policy.required_difficulty(&p, 100), 3);   // at 1x allowance: +1 bit
/// assert_eq!(policy.required_difficulty(&p, 400), 5);   // 4x allowance: +3 bits
/// assert!(policy.own_weight(&p, 2, 2) > policy.own_weight(&IssuerProfile::device(12, 10), 12, 12));
/// ```
#[derive(Debug, Clone)]
pub struct IssuerPolicy {
    /// Profile of every key not registered.
    pub default_profile: IssuerProfile,
    /// Length of the rate window in milliseconds.
    pub window_ms: u64,
    /// Stake (base units) per unit of own weight.
    pub stake_per_weight: u64,
    /// Cap on the stake part of own weight, so no single issuer out-weighs the crowd.
    pub max_stake_weight: u64,
    /// Cap on adaptive extra bits (and on extra declared bits that buy weight).
    pub max_extra_bits: u8,
    #[cfg(feature = "alloc")]
    profiles: BTreeMap<[u8; 32], IssuerProfile>,
}

impl IssuerPolicy {
    /// A policy where everyone gets `default_profile`; 10 s window, 10 000 stake per weight
    /// unit, stake weight capped at 10, at most 16 extra bits.
    pub fn new(default_profile: IssuerProfile) -> Self {
        IssuerPolicy {
            default_profile,
            window_ms: 10_000,
            stake_per_weight: 10_000,
            max_stake_weight: 10,
            max_extra_bits: 16,
            #[cfg(feature = "alloc")]
            profiles: BTreeMap::new(),
        }
    }

    /// Gives `issuer` its own profile (staked, gateway-vouched, anchoring gateway).
    #[cfg(feature = "alloc")]
    pub fn register(&mut self, issuer: &PublicKey, profile: IssuerProfile) {
        self.profiles.insert(*issuer.as_bytes(), profile);
    }

    /// The profile that applies to `issuer`.
    pub fn profile(&self, issuer: &PublicKey) -> &IssuerProfile {
        #[cfg(feature = "alloc")]
        if let Some(p) = self.profiles.get(issuer.as_bytes()) {
            return p;
        }
        let _ = issuer;
        &self.default_profile
    }

    /// Difficulty required of an issuer with `recent` transactions in the current window:
    /// `min + 0` below the allowance, then one more bit per doubling of `recent / allowance`.
    pub fn required_difficulty(&self, profile: &IssuerProfile, recent: u64) -> u8 {
        let allowance = u64::from(profile.allowance.max(1));
        let ratio = recent / allowance;
        // Bits of the ratio: 0 → 0, 1 → 1, 2..3 → 2, 4..7 → 3, …
        let extra = 64u32.saturating_sub(ratio.leading_zeros());
        let extra = u8::try_from(extra)
            .unwrap_or(u8::MAX)
            .min(self.max_extra_bits);
        profile.min_difficulty.saturating_add(extra)
    }

    /// Own weight of a transaction that declared `declared` bits when `required` were needed.
    pub fn own_weight(&self, profile: &IssuerProfile, declared: u8, required: u8) -> u64 {
        let stake = profile
            .stake
            .checked_div(self.stake_per_weight)
            .unwrap_or(0)
            .min(self.max_stake_weight);
        let extra = u64::from(declared.saturating_sub(required).min(self.max_extra_bits));
        1u64.saturating_add(stake).saturating_add(extra)
    }
}

/// An issuer's recent rate: a two-bucket sliding window over its timestamps (O(1) memory).
///
/// The estimate for a window ending at `t` is `current + previous × (remaining fraction)`, the
/// classic sliding-window-counter approximation; integer only.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RateWindow {
    bucket: u64,
    current: u32,
    previous: u32,
}

#[cfg(feature = "alloc")]
impl RateWindow {
    /// `(bucket, current, previous)`: the stored form.
    pub(crate) fn parts(&self) -> (u64, u32, u32) {
        (self.bucket, self.current, self.previous)
    }

    /// Rebuilds a window from its stored form.
    pub(crate) fn from_parts(bucket: u64, current: u32, previous: u32) -> Self {
        RateWindow {
            bucket,
            current,
            previous,
        }
    }

    /// Estimated number of transactions in the `window_ms` before `timestamp`.
    pub(crate) fn recent(&self, timestamp: u64, window_ms: u64) -> u64 {
        let w = window_ms.max(1);
        let b = timestamp / w;
        let (cur, prev) = if b == self.bucket {
            (self.current, self.previous)
        } else if b == self.bucket.saturating_add(1) {
            (0, self.current)
        } else {
            (0, 0)
        };
        let remaining = w.saturating_sub(timestamp % w);
        let carried = u64::from(prev).saturating_mul(remaining) / w;
        u64::from(cur).saturating_add(carried)
    }

    /// Counts one transaction at `timestamp`. Timestamps normally increase per issuer; a late
    /// one (a solicited transaction) counts in the bucket it belongs to, or not at all if that
    /// bucket is already forgotten.
    pub(crate) fn record(&mut self, timestamp: u64, window_ms: u64) {
        let b = timestamp / window_ms.max(1);
        if b < self.bucket {
            if b.saturating_add(1) == self.bucket {
                self.previous = self.previous.saturating_add(1);
            }
            return;
        }
        if b == self.bucket.saturating_add(1) {
            self.previous = self.current;
            self.current = 0;
        } else if b != self.bucket {
            self.previous = 0;
            self.current = 0;
        }
        self.bucket = b;
        self.current = self.current.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    #[test]
    fn rate_window_counts_and_decays() {
        let mut r = RateWindow::default();
        for t in 0..50u64 {
            r.record(1_000 + t, 1_000);
        }
        assert_eq!(r.recent(1_050, 1_000), 50);
        // Halfway through the next window half of the previous bucket still counts.
        assert_eq!(r.recent(2_500, 1_000), 25);
        // Two windows later it is gone.
        assert_eq!(r.recent(3_000, 1_000), 0);
    }

    #[test]
    fn required_difficulty_doubles_work_per_doubling_of_rate() {
        let p = IssuerPolicy::new(IssuerProfile::device(10, 8));
        let d = p.default_profile;
        assert_eq!(p.required_difficulty(&d, 7), 10);
        assert_eq!(p.required_difficulty(&d, 8), 11);
        assert_eq!(p.required_difficulty(&d, 16), 12);
        assert_eq!(p.required_difficulty(&d, 8 * 1024), 21);
        assert_eq!(p.required_difficulty(&d, u64::MAX), 26);
    }

    #[test]
    fn weight_grows_with_stake_and_work_but_is_capped() {
        let p = IssuerPolicy::new(IssuerProfile::device(10, 8));
        let dev = p.default_profile;
        assert_eq!(p.own_weight(&dev, 10, 10), 1);
        assert_eq!(p.own_weight(&dev, 13, 10), 4);
        assert_eq!(p.own_weight(&dev, 255, 10), 17);
        let whale = IssuerProfile::staked(2, u64::MAX, 100);
        assert_eq!(p.own_weight(&whale, 2, 2), 11);
    }
}
