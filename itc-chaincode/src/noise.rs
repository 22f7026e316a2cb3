//! Integer-only noise for differential privacy, and the deterministic on-chain noise stream.
//!
//! * [`discrete_laplace`] samples the two-sided geometric (discrete Laplace) distribution
//!   `P(z) ∝ exp(−|z|·ε/Δ)` **exactly**, with integer arithmetic only (Canonne, Kamath &
//!   Steinke, *The Discrete Gaussian for Differential Privacy*, 2020, Algorithms 1–2). No floating
//!   point means no platform-dependent rounding and none of the floating-point attacks on the
//!   continuous Laplace mechanism (Mironov 2012).
//! * ε is carried as an integer number of milli-units (`Privacy::epsilon_milli` in the plan module), so ε/Δ is the
//!   rational `ε_milli / (1000·Δ)`.
//! * [`NoiseRng`] is the on-chain randomness: Keccak-256 in counter mode (via
//!   [`itc_crypto::tagged_hash`]) over a 32-byte seed, so every validator derives the same bytes.
//!   The aggregator seeds it only after contributions close (see [`crate::aggregator`]).
//!
//! ```
//! use itc_chaincode::noise::{discrete_laplace, NoiseRng};
//! use itc_crypto::Hash;
//! let mut a = NoiseRng::new(Hash::from_bytes([1; 32]));
//! let mut b = NoiseRng::new(Hash::from_bytes([1; 32]));
//! // ε = 1 (1000 milli), sensitivity 1: same seed, same noise on every validator.
//! assert_eq!(discrete_laplace(&mut a, 1000, 1), discrete_laplace(&mut b, 1000, 1));
//! ```

use itc_crypto::hash::{DomainTag, Hash, TaggedHasher};
use rand_core::{CryptoRng, RngCore};

/// Tag of the on-chain noise stream blocks.
pub const NOISE_STREAM_TAG: DomainTag = DomainTag::new(b"itc/chaincode/noise-stream/v1");

/// A deterministic byte stream: block `i` is `H(tag, seed ‖ i)`. Implements [`RngCore`].
#[derive(Clone, Debug)]
pub struct NoiseRng {
    seed: Hash,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl NoiseRng {
    /// A stream keyed by `seed`.
    pub fn new(seed: Hash) -> Self {
        NoiseRng {
            seed,
            counter: 0,
            block: [0u8; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut h = TaggedHasher::new(NOISE_STREAM_TAG);
        h.update(self.seed.as_bytes())
            .update(&self.counter.to_be_bytes());
        self.block = h.finalize().0;
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

impl RngCore for NoiseRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest.iter_mut() {
            if self.used >= self.block.len() {
                self.refill();
            }
            *byte = self.block.get(self.used).copied().unwrap_or(0);
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Keccak in counter mode is a PRF; the stream is as unpredictable as its seed.
impl CryptoRng for NoiseRng {}

/// A uniform integer in `0..n` (`n ≥ 1`) by rejection, so there is no modulo bias.
pub fn uniform_below<R: RngCore + ?Sized>(rng: &mut R, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % n;
        }
    }
}

/// Bernoulli(num/den), exact.
fn bernoulli<R: RngCore + ?Sized>(rng: &mut R, num: u64, den: u64) -> bool {
    uniform_below(rng, den) < num
}

/// Bernoulli(exp(−num/den)) for `num ≤ den` (CKS20 Algorithm 1, first half).
fn bernoulli_exp_le1<R: RngCore + ?Sized>(rng: &mut R, num: u64, den: u64) -> bool {
    let mut k: u64 = 1;
    loop {
        let Some(d) = den.checked_mul(k) else {
            // Probability below 2^-60 of getting here; stopping is a negligible bias.
            return k % 2 == 1;
        };
        if !bernoulli(rng, num, d) {
            return k % 2 == 1;
        }
        k += 1;
    }
}

/// Bernoulli(exp(−num/den)) for any `num ≥ 0`, `den ≥ 1` (CKS20 Algorithm 1).
fn bernoulli_exp<R: RngCore + ?Sized>(rng: &mut R, mut num: u64, den: u64) -> bool {
    while num > den {
        if !bernoulli_exp_le1(rng, 1, 1) {
            return false;
        }
        num -= den;
    }
    bernoulli_exp_le1(rng, num, den)
}

/// One-sided geometric: `P(y) ∝ exp(−y·s/t)` for `y ≥ 0` (the core of CKS20 Algorithm 2).
fn geometric_st<R: RngCore + ?Sized>(rng: &mut R, s: u64, t: u64) -> u64 {
    loop {
        let u = uniform_below(rng, t);
        if !bernoulli_exp(rng, u, t) {
            continue;
        }
        let mut v: u64 = 0;
        while bernoulli_exp_le1(rng, 1, 1) {
            v = v.saturating_add(1);
        }
        let x = u.saturating_add(t.saturating_mul(v));
        return x / s.max(1);
    }
}

/// Discrete Laplace noise with `P(z) ∝ exp(−|z|·ε/Δ)`, `ε = epsilon_milli / 1000`,
/// `Δ = sensitivity`: the two-sided geometric mechanism, exact and integer-only.
///
/// `epsilon_milli` and `sensitivity` are clamped to at least 1.
///
/// ```
/// use itc_chaincode::noise::{discrete_laplace, NoiseRng};
/// let mut rng = NoiseRng::new(itc_crypto::Hash::ZERO);
/// let z = discrete_laplace(&mut rng, 500, 10); // ε = 0.5, Δ = 10
/// assert!(z.abs() < 10_000);
/// ```
pub fn discrete_laplace<R: RngCore + ?Sized>(
    rng: &mut R,
    epsilon_milli: u32,
    sensitivity: u64,
) -> i64 {
    let s = u64::from(epsilon_milli.max(1));
    let t = sensitivity.max(1).saturating_mul(1000);
    loop {
        let y = geometric_st(rng, s, t);
        let negative = bernoulli(rng, 1, 2);
        if negative && y == 0 {
            continue;
        }
        let y = i64::try_from(y).unwrap_or(i64::MAX);
        return if negative { -y } else { y };
    }
}

/// One-sided geometric noise `P(y) ∝ exp(−y·ε/Δ)`, `y ≥ 0` (used to raise the release
/// threshold by a random amount).
///
/// ```
/// use itc_chaincode::noise::{geometric, NoiseRng};
/// let mut rng = NoiseRng::new(itc_crypto::Hash::ZERO);
/// let _extra: u64 = geometric(&mut rng, 250, 1);
/// ```
pub fn geometric<R: RngCore + ?Sized>(rng: &mut R, epsilon_milli: u32, sensitivity: u64) -> u64 {
    geometric_st(
        rng,
        u64::from(epsilon_milli.max(1)),
        sensitivity.max(1).saturating_mul(1000),
    )
}

/// Randomized response on one bit with ε = `epsilon_milli / 1000`: the true bit is reported
/// with probability `e^ε / (1 + e^ε)`, flipped otherwise. Exact and integer-only: each round
/// keeps with probability ½ and flips with probability `e^{−ε}/2`, otherwise repeats, so
/// `P(flip) = e^{−ε} / (1 + e^{−ε})`.
///
/// ```
/// use itc_chaincode::noise::{randomized_response, NoiseRng};
/// let mut rng = NoiseRng::new(itc_crypto::Hash::ZERO);
/// let reported: bool = randomized_response(&mut rng, true, 1000);
/// # let _ = reported;
/// ```
pub fn randomized_response<R: RngCore + ?Sized>(
    rng: &mut R,
    bit: bool,
    epsilon_milli: u32,
) -> bool {
    loop {
        if !bernoulli(rng, 1, 2) {
            return bit;
        }
        if bernoulli_exp(rng, u64::from(epsilon_milli), 1000) {
            return !bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn stream_is_deterministic_and_seed_dependent() {
        let mut a = NoiseRng::new(Hash::from_bytes([3; 32]));
        let mut b = NoiseRng::new(Hash::from_bytes([3; 32]));
        let mut c = NoiseRng::new(Hash::from_bytes([4; 32]));
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        // Crossing block boundaries keeps the stream consistent.
        let mut buf = [0u8; 100];
        a.fill_bytes(&mut buf);
        let mut buf2 = [0u8; 100];
        for chunk in buf2.chunks_mut(7) {
            b.fill_bytes(chunk);
        }
        assert_eq!(buf, buf2);
        // Known first block: H(tag, seed ‖ 0).
        let mut d = NoiseRng::new(Hash::ZERO);
        let mut first = [0u8; 32];
        d.fill_bytes(&mut first);
        let mut data = [0u8; 40];
        data[32..].copy_from_slice(&0u64.to_be_bytes());
        assert_eq!(first, itc_crypto::tagged_hash(NOISE_STREAM_TAG, &data).0);
    }

    #[test]
    fn uniform_below_covers_range_evenly() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[uniform_below(&mut rng, 6) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        assert_eq!(uniform_below(&mut rng, 1), 0);
        assert_eq!(uniform_below(&mut rng, 0), 0);
    }

    /// Chi-square goodness of fit of discrete Laplace samples against the exact pmf.
    fn check_distribution(epsilon_milli: u32, sensitivity: u64, seed: u64) {
        let n = 40_000u32;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let alpha = (-(f64::from(epsilon_milli) / 1000.0) / sensitivity as f64).exp();
        let pmf = |z: i64| (1.0 - alpha) / (1.0 + alpha) * alpha.powi(z.unsigned_abs() as i32);
        // Bins for |z| up to the point where the expected count drops below 20; tails pooled.
        let mut edge = 0i64;
        while f64::from(n) * pmf(edge + 1) >= 20.0 {
            edge += 1;
        }
        let mut hist = std::collections::BTreeMap::<i64, u32>::new();
        let mut sum = 0f64;
        let mut sum_sq = 0f64;
        for _ in 0..n {
            let z = discrete_laplace(&mut rng, epsilon_milli, sensitivity);
            sum += z as f64;
            sum_sq += (z as f64).powi(2);
            *hist.entry(z.clamp(-edge - 1, edge + 1)).or_default() += 1;
        }
        let mut chi2 = 0.0;
        let mut bins = 0;
        for z in -edge - 1..=edge + 1 {
            let p = if z.abs() <= edge {
                pmf(z)
            } else {
                // P(Z > edge) = alpha^(edge+1) / (1 + alpha)
                alpha.powi(edge as i32 + 1) / (1.0 + alpha)
            };
            let expected = f64::from(n) * p;
            let observed = f64::from(hist.get(&z).copied().unwrap_or(0));
            chi2 += (observed - expected).powi(2) / expected;
            bins += 1;
        }
        // df = bins - 1; a generous bound (~p = 1e-4) so the fixed seed test is meaningful but stable.
        let df = f64::from(bins - 1);
        let bound = df + 4.0 * (2.0 * df).sqrt() + 10.0;
        assert!(
            chi2 < bound,
            "ε={epsilon_milli}m Δ={sensitivity}: chi2 {chi2} over {bins} bins > {bound}"
        );
        let mean = sum / f64::from(n);
        let var = sum_sq / f64::from(n) - mean * mean;
        let expected_var = 2.0 * alpha / (1.0 - alpha).powi(2);
        assert!(
            mean.abs() < 5.0 * (expected_var / f64::from(n)).sqrt(),
            "mean {mean}"
        );
        assert!(
            (var / expected_var - 1.0).abs() < 0.06,
            "var {var} vs {expected_var}"
        );
    }

    #[test]
    fn discrete_laplace_matches_its_pmf() {
        check_distribution(1000, 1, 1);
        check_distribution(500, 1, 2);
        check_distribution(1000, 5, 3);
        check_distribution(100, 1, 4);
    }

    #[test]
    fn randomized_response_flips_at_the_right_rate() {
        let mut rng = ChaCha20Rng::seed_from_u64(21);
        let n = 40_000;
        for eps in [250u32, 1000, 2000] {
            let flips = (0..n)
                .filter(|i| randomized_response(&mut rng, i % 2 == 0, eps) != (i % 2 == 0))
                .count();
            let x = (-f64::from(eps) / 1000.0).exp();
            let expected = x / (1.0 + x);
            let rate = flips as f64 / f64::from(n);
            let sd = (expected * (1.0 - expected) / f64::from(n)).sqrt();
            assert!(
                (rate - expected).abs() < 5.0 * sd,
                "ε={eps}: {rate} vs {expected}"
            );
        }
    }

    #[test]
    fn geometric_is_one_sided_with_the_right_mean() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let alpha = (-1.0f64).exp();
        let n = 20_000;
        let mut sum = 0u64;
        for _ in 0..n {
            sum += geometric(&mut rng, 1000, 1);
        }
        let mean = sum as f64 / n as f64;
        let expected = alpha / (1.0 - alpha);
        assert!((mean / expected - 1.0).abs() < 0.05, "{mean} vs {expected}");
    }
}
