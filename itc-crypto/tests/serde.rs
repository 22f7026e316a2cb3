//! serde (feature `serde`): values round-trip through JSON by their canonical encoding, and
//! serde input gets every check `Decode` makes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg(feature = "serde")]

use itc_crypto::quorum::{Validator, ValidatorSet};
use itc_crypto::{
    Address, Encode, Hash, InclusionProof, MerkleTree, PublicKey, SecretKey, Signature,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn round_trip<
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug + Encode + itc_crypto::Decode,
>(
    v: &T,
) {
    let json = serde_json::to_string(v).unwrap();
    // Human-readable form: the hex of the canonical encoding.
    assert_eq!(json, format!("\"{}\"", hex::encode(v.encode_to_vec())));
    assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), v);
    // A JSON array of byte values (a binary format's sequence) is accepted too.
    let seq = serde_json::to_string(&v.encode_to_vec()).unwrap();
    let de = &mut serde_json::Deserializer::from_str(&seq);
    let back: T = itc_crypto::serde_impl::deserialize_encoded(SeqOnly(de)).unwrap();
    assert_eq!(&back, v);
}

/// A deserializer adapter that reports itself as binary, so the bytes path is exercised.
struct SeqOnly<'a, 'de>(&'a mut serde_json::Deserializer<serde_json::de::StrRead<'de>>);
impl<'de> serde::Deserializer<'de> for SeqOnly<'_, 'de> {
    type Error = serde_json::Error;
    fn is_human_readable(&self) -> bool {
        false
    }
    fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_seq(&mut *self.0, v)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[test]
fn every_crypto_type_round_trips_through_json() {
    let sk = SecretKey::from_bytes(&[3; 32]).unwrap();
    let pk = sk.public_key();
    round_trip(&Hash([0xab; 32]));
    round_trip(&Address::from_public_key(&pk));
    round_trip(&pk);
    round_trip(&Signature([7; 64]));
    let leaves: Vec<Vec<u8>> = (0u8..5).map(|i| vec![i; 3]).collect();
    let tree = MerkleTree::from_leaves(&leaves);
    let proof: InclusionProof = tree.prove(3).unwrap();
    round_trip(&proof);
    let set = ValidatorSet::<8>::new((1u8..=4).map(|i| Validator {
        key: SecretKey::from_bytes(&[i; 32]).unwrap().public_key(),
        power: 1,
    }))
    .unwrap();
    round_trip(&set);
}

#[test]
fn bad_serde_input_gets_the_decoders_errors() {
    // (input, what the error must mention)
    let cases: &[(&str, &str)] = &[
        ("\"abc\"", "even number"),
        ("\"zz\"", "hex"),
        ("\"00\"", "end"), // too short for a 32-byte hash
        (&format!("\"{}\"", "00".repeat(33)), "trailing"), // too long
    ];
    for (input, needle) in cases {
        let err = serde_json::from_str::<Hash>(input)
            .unwrap_err()
            .to_string()
            .to_lowercase();
        assert!(err.contains(needle), "{input}: {err}");
    }
    // Not on the curve: the same refusal as `PublicKey::decode`.
    assert!(serde_json::from_str::<PublicKey>(&format!("\"{}\"", "ff".repeat(32))).is_err());
    // An unsorted / duplicate validator set is refused as by `ValidatorSet::decode`.
    let v = Validator {
        key: SecretKey::from_bytes(&[1; 32]).unwrap().public_key(),
        power: 1,
    };
    let mut bytes = vec![];
    itc_crypto::encoding::write_varint(&mut bytes, 2);
    v.encode(&mut bytes);
    v.encode(&mut bytes);
    assert!(
        serde_json::from_str::<ValidatorSet<8>>(&format!("\"{}\"", hex::encode(bytes))).is_err()
    );
}
