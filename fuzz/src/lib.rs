//! Shared helpers for the itc fuzz targets.
//!
//! Decoder targets use [`roundtrip`]: whatever decodes must re-encode to exactly the input
//! bytes (canonical encoding) and report the same `encoded_len`. [`dispatch!`] lets one
//! target cover every type of a family: the first input byte picks the type.
//!
//! Signatures: cargo-fuzz builds with `--cfg fuzzing`, under which itc-crypto swaps BIP340 for
//! a cheap deterministic stand-in (see `itc-crypto/src/keys.rs`), so fuzzers get past
//! signature checks. A normal build never sets that cfg.

use itc_crypto::encoding::{Decode, Encode};

/// Decodes `data` as `T`; if it decodes, asserts the canonical round trip.
pub fn roundtrip<T: Encode + Decode>(data: &[u8]) {
    if let Ok(value) = T::decode_bytes(data) {
        let again = value.encode_to_vec();
        assert_eq!(
            again.as_slice(),
            data,
            "{}: decoded value re-encodes to different bytes",
            core::any::type_name::<T>()
        );
        assert_eq!(value.encoded_len(), data.len(), "encoded_len disagrees");
    }
}

/// `dispatch!(data; A, B, C)`: the first byte of `data` (mod the number of types) picks the
/// type; the rest is decoded with [`roundtrip`].
#[macro_export]
macro_rules! dispatch {
    ($data:expr; $($t:ty),+ $(,)?) => {{
        let data: &[u8] = $data;
        if let Some((sel, rest)) = data.split_first() {
            let fns: &[fn(&[u8])] = &[$($crate::roundtrip::<$t>),+];
            if let Some(f) = fns.get(usize::from(*sel) % fns.len()) {
                f(rest);
            }
        }
    }};
}

/// Bounded-memory check used by state-machine targets: a gentle upper bound on live
/// collections so an unbounded growth bug shows up as a crash, not an OOM minutes later.
pub fn assert_bounded(what: &str, len: usize, max: usize) {
    assert!(len <= max, "{what}: {len} entries exceeds bound {max}");
}

/// Secret keys are expensive to derive under coverage instrumentation (a scalar
/// multiplication each); targets derive theirs once per process through this cache.
pub fn cached_keys(
    cell: &'static std::sync::OnceLock<Vec<itc_crypto::SecretKey>>,
    make: impl FnOnce() -> Vec<itc_crypto::SecretKey>,
) -> &'static [itc_crypto::SecretKey] {
    cell.get_or_init(make)
}
