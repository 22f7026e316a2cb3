//! `serde` support (feature `serde`): how IoT Chain values look in JSON, TOML or any other
//! `serde` format.
//!
//! One rule, so no format can disagree with what is hashed and signed: a value whose fields
//! carry an invariant (a key on the curve, a sorted validator set, a certificate, a proof)
//! serializes as **its canonical encoding** ([`Encode`]) — a lower-case hex string in
//! human-readable formats (JSON, TOML), raw bytes in binary ones — and deserializes through
//! [`Decode`], so every check the decoder makes (canonical form, limits, curve membership) runs
//! on serde input too. Plain records in the other crates derive field-by-field and reach these
//! types for their hashes, keys and signatures.
//!
//! Other crates use [`serde_via_encoding!`](crate::serde_via_encoding) for their own types.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use itc_crypto::{Hash, PublicKey, SecretKey};
//!
//! let h = Hash([0xab; 32]);
//! let json = serde_json::to_string(&h).unwrap();
//! assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
//! assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
//!
//! // A key off the curve is refused by the same check `Decode` makes.
//! let bad = format!("\"{}\"", "ff".repeat(32));
//! assert!(serde_json::from_str::<PublicKey>(&bad).is_err());
//! # let _ = SecretKey::from_bytes(&[1; 32]);
//! # }
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

use crate::encoding::{Decode, Encode};

/// The most bytes a serde value may decode to (a hex string twice as long is refused before
/// anything is allocated). Larger than any canonical value the protocol defines.
pub const MAX_SERDE_BYTES: usize = 4 << 20;

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write_hex(f, self.0)
    }
}

/// Serializes `value` as its canonical encoding: hex in human-readable formats, bytes otherwise.
pub fn serialize_encoded<T: Encode + ?Sized, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let bytes = value.encode_to_vec();
    if serializer.is_human_readable() {
        serializer.collect_str(&Hex(&bytes))
    } else {
        serializer.serialize_bytes(&bytes)
    }
}

/// Deserializes a value from its canonical encoding (hex string or bytes), through [`Decode`]:
/// non-canonical, oversized or invalid input is a serde error naming the decode error.
pub fn deserialize_encoded<'de, T: Decode, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    struct V<T>(PhantomData<T>);
    impl<T: Decode> V<T> {
        fn finish<E: de::Error>(bytes: &[u8]) -> Result<T, E> {
            T::decode_bytes(bytes).map_err(|e| E::custom(format_args!("{e}")))
        }
    }
    impl<'de, T: Decode> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the canonical encoding, as a hex string or bytes")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            if s.len() > 2 * MAX_SERDE_BYTES {
                return Err(E::invalid_length(
                    s.len() / 2,
                    &"at most MAX_SERDE_BYTES bytes",
                ));
            }
            if s.len() % 2 != 0 {
                return Err(E::invalid_value(
                    de::Unexpected::Str(s),
                    &"an even number of hex digits",
                ));
            }
            let mut bytes = Vec::with_capacity(s.len() / 2);
            for pair in s.as_bytes().chunks_exact(2) {
                match pair {
                    [h, l] => match (crate::hex::nibble(*h), crate::hex::nibble(*l)) {
                        (Some(h), Some(l)) => bytes.push((h << 4) | l),
                        _ => {
                            return Err(E::invalid_value(
                                de::Unexpected::Str(s),
                                &"lower- or upper-case hex digits",
                            ))
                        }
                    },
                    _ => return Err(E::invalid_length(s.len(), &"an even number of hex digits")),
                }
            }
            Self::finish(&bytes)
        }
        fn visit_string<E: de::Error>(self, s: String) -> Result<T, E> {
            self.visit_str(&s)
        }
        fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<T, E> {
            if b.len() > MAX_SERDE_BYTES {
                return Err(E::invalid_length(b.len(), &"at most MAX_SERDE_BYTES bytes"));
            }
            Self::finish(b)
        }
        fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<T, E> {
            self.visit_bytes(&b)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
            // Binary formats without a bytes type (and JSON arrays of numbers) send a sequence.
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                if bytes.len() == MAX_SERDE_BYTES {
                    return Err(de::Error::invalid_length(
                        bytes.len() + 1,
                        &"at most MAX_SERDE_BYTES bytes",
                    ));
                }
                bytes.push(b);
            }
            Self::finish(&bytes)
        }
    }
    if deserializer.is_human_readable() {
        deserializer.deserialize_str(V(PhantomData))
    } else {
        deserializer.deserialize_bytes(V(PhantomData))
    }
}

/// Implements `serde::Serialize` and `serde::Deserialize` for types that carry an invariant, by
/// their canonical encoding (see the [module docs](crate::serde_impl)). The type must implement
/// [`Encode`] and [`Decode`]. Generic types put their parameters in brackets first:
/// `serde_via_encoding!([S: SignatureStore] Certificate<S>, [const N: usize] Set<N>)`.
#[macro_export]
macro_rules! serde_via_encoding {
    ($([$($gen:tt)*] $gty:ty),+ $(,)?) => {$(
        impl<$($gen)*> $crate::__serde::Serialize for $gty {
            fn serialize<Ser: $crate::__serde::Serializer>(&self, serializer: Ser) -> ::core::result::Result<Ser::Ok, Ser::Error> {
                $crate::serde_impl::serialize_encoded(self, serializer)
            }
        }
        impl<'de, $($gen)*> $crate::__serde::Deserialize<'de> for $gty {
            fn deserialize<De: $crate::__serde::Deserializer<'de>>(deserializer: De) -> ::core::result::Result<Self, De::Error> {
                $crate::serde_impl::deserialize_encoded(deserializer)
            }
        }
    )+};
    ($($ty:ty),+ $(,)?) => {
        $crate::serde_via_encoding!($([] $ty),+);
    };
}

serde_via_encoding!(
    crate::Hash,
    crate::Address,
    crate::PublicKey,
    crate::Signature,
    crate::ecdsa::RecoverableSignature,
    crate::ecdsa::EcdsaSignature,
    crate::ecdsa::EcdsaPublicKey,
    crate::InclusionProof,
    crate::Validator,
    crate::quorum::SignerBitmap,
);

serde_via_encoding!(
    [const N: usize] crate::ValidatorSet<N>,
    [Sigs: crate::quorum::SignatureStore] crate::QuorumCertificate<Sigs>,
);
