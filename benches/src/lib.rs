//! Shared fixtures for the criterion benches in `benches/benches/`. See `benches/README.md`
//! for the figures measured and how to reproduce them.

use itc_crypto::SecretKey;

/// Deterministic test keys: `n` distinct secret keys derived from their index.
pub fn keys(n: usize) -> Vec<SecretKey> {
    (0..n)
        .map(|i| {
            let mut b = [0u8; 32];
            b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            SecretKey::from_bytes(&b).expect("small non-zero scalars are valid keys")
        })
        .collect()
}
