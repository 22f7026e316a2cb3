//! Proof of work: leading zero bits of one Keccak-256 over `essence_hash ‖ nonce`.
//!
//! The PoW input is `len(tag) ‖ "itc/dag/pow/v1" ‖ essence_hash ‖ nonce` = 55 bytes, less than
//! one Keccak-256 block (136 bytes), so **one attempt is exactly one Keccak-f\[1600\]
//! permutation** — the cost model devices are budgeted on — and checking a transaction's work is
//! a single hash. A solution for difficulty `d` takes `2^d` attempts on average.
//!
//! Solving is bounded: [`solve`] takes a start nonce and an iteration budget, so firmware can
//! interleave PoW with its control loop and resume where it stopped.
//!
//! ```
//! use itc_crypto::Hash;
//! use itc_dag::pow;
//! let essence = Hash([9u8; 32]);
//! let nonce = pow::solve(&essence, 6, 0, 10_000).unwrap();
//! assert!(pow::check(&essence, nonce, 6).is_ok());
//! assert!(pow::pow_hash(&essence, nonce).leading_zero_bits() >= 6);
//! ```

use itc_crypto::hash::{DomainTag, Hash, TaggedHasher};

use crate::error::DagError;

/// Tag of the PoW hash.
pub const POW_TAG: DomainTag = DomainTag::new(b"itc/dag/pow/v1");

/// The PoW hash of a nonce for a given essence hash.
pub fn pow_hash(essence_hash: &Hash, nonce: u64) -> Hash {
    let mut h = TaggedHasher::new(POW_TAG);
    h.update(essence_hash.as_bytes())
        .update(&nonce.to_be_bytes());
    h.finalize()
}

/// Checks that `nonce` gives at least `difficulty` leading zero bits.
pub fn check(essence_hash: &Hash, nonce: u64, difficulty: u8) -> Result<(), DagError> {
    let achieved = pow_hash(essence_hash, nonce).leading_zero_bits();
    if achieved >= u32::from(difficulty) {
        Ok(())
    } else {
        Err(DagError::InsufficientPow {
            declared: difficulty,
            achieved,
        })
    }
}

/// Tries nonces `start_nonce, start_nonce + 1, …` (wrapping) for at most `max_iters` attempts
/// and returns the first that meets `difficulty`, or `None` when the budget runs out — call
/// again with `start_nonce + max_iters` to continue.
pub fn solve(essence_hash: &Hash, difficulty: u8, start_nonce: u64, max_iters: u64) -> Option<u64> {
    // The tag and essence prefix are absorbed once; each attempt clones the sponge state.
    let mut prefix = TaggedHasher::new(POW_TAG);
    prefix.update(essence_hash.as_bytes());
    let want = u32::from(difficulty);
    let mut nonce = start_nonce;
    for _ in 0..max_iters {
        let mut h = prefix.clone();
        h.update(&nonce.to_be_bytes());
        if h.finalize().leading_zero_bits() >= want {
            return Some(nonce);
        }
        nonce = nonce.wrapping_add(1);
    }
    None
}

/// Expected number of attempts for `difficulty` (`2^d`, saturating at `u64::MAX`).
pub fn expected_attempts(difficulty: u8) -> u64 {
    1u64.checked_shl(u32::from(difficulty)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_then_check_and_budget_is_respected() {
        let e = Hash([3u8; 32]);
        for d in 0..10u8 {
            let n = solve(&e, d, 0, 1 << 20).unwrap();
            assert!(check(&e, n, d).is_ok());
            // Every nonce before the solution failed, so a budget of `n` finds nothing.
            assert_eq!(solve(&e, d, 0, n), None);
        }
    }

    #[test]
    fn check_reports_achieved_bits() {
        let e = Hash([5u8; 32]);
        let n = solve(&e, 4, 0, 1 << 16).unwrap();
        let achieved = pow_hash(&e, n).leading_zero_bits();
        let too_much = u8::try_from(achieved + 1).unwrap();
        assert_eq!(
            check(&e, n, too_much),
            Err(DagError::InsufficientPow {
                declared: too_much,
                achieved
            })
        );
    }

    #[test]
    fn resuming_finds_the_same_nonce() {
        let e = Hash([11u8; 32]);
        let whole = solve(&e, 8, 0, 1 << 20).unwrap();
        let mut start = 0;
        let found = loop {
            if let Some(n) = solve(&e, 8, start, 7) {
                break n;
            }
            start += 7;
        };
        assert_eq!(found, whole);
    }

    #[test]
    fn attempt_is_a_single_keccak_block() {
        // 1 length byte + tag + 32 + 8 must stay below Keccak-256's 136-byte rate.
        assert!(1 + POW_TAG.as_bytes().len() + 32 + 8 < 136);
        assert_eq!(expected_attempts(10), 1024);
        assert_eq!(expected_attempts(200), u64::MAX);
    }
}
