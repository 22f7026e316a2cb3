//! Where each record lives under the state root.
//!
//! A [`StateKey`] names one record; its canonical encoding (≤ 33 bytes) is the tree key, so a
//! light client proves "device D's record is R" with `proof.verify_entry(root, &key, Some(R))`
//! and no allocator.

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, SliceWriter, Writer};
use itc_crypto::hash::hash_encoded;
use itc_crypto::{Address, Hash};

use crate::device::{DeviceId, VendorId};
use crate::smt::{self, StateProof, StateProofError};

/// Longest [`StateKey`] encoding.
pub const MAX_STATE_KEY_LEN: usize = 33;

/// The key of one record in the ledger state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateKey {
    /// [`crate::ChainMeta`].
    Meta,
    /// [`crate::ValidatorRecord`].
    Validators,
    /// [`crate::Account`] of an address.
    Account(Address),
    /// [`crate::VendorRecord`] of a vendor.
    Vendor(VendorId),
    /// [`crate::OwnershipRecord`] of a device.
    Device(DeviceId),
    /// [`crate::AnchorRecord`] at an anchor sequence.
    Anchor(u64),
    /// [`crate::Escrow`] of a chaincode plan.
    Plan(Hash),
}

impl StateKey {
    /// The key's path in the tree: `smt::key_hash(encoding)`, computed without allocating.
    pub fn key_hash(&self) -> Hash {
        hash_encoded(smt::KEY_TAG, self)
    }

    /// The encoding in a stack buffer; returns the buffer and the used length.
    pub fn to_bytes(&self) -> ([u8; MAX_STATE_KEY_LEN], usize) {
        let mut buf = [0u8; MAX_STATE_KEY_LEN];
        let mut w = SliceWriter::new(&mut buf);
        self.encode(&mut w);
        let len = w.finish().map_or(0, <[u8]>::len);
        (buf, len)
    }
}

impl Encode for StateKey {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            StateKey::Meta => w.write(&[0]),
            StateKey::Validators => w.write(&[1]),
            StateKey::Account(a) => {
                w.write(&[2]);
                a.encode(w);
            }
            StateKey::Vendor(v) => {
                w.write(&[3]);
                v.encode(w);
            }
            StateKey::Device(d) => {
                w.write(&[4]);
                d.encode(w);
            }
            StateKey::Anchor(s) => {
                w.write(&[5]);
                s.encode(w);
            }
            StateKey::Plan(p) => {
                w.write(&[6]);
                p.encode(w);
            }
        }
    }
}

impl Decode for StateKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => StateKey::Meta,
            1 => StateKey::Validators,
            2 => StateKey::Account(Address::decode(r)?),
            3 => StateKey::Vendor(VendorId::decode(r)?),
            4 => StateKey::Device(DeviceId::decode(r)?),
            5 => StateKey::Anchor(u64::decode(r)?),
            6 => StateKey::Plan(Hash::decode(r)?),
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "StateKey",
                    tag: u64::from(tag),
                })
            }
        })
    }
}

impl StateProof {
    /// Checks that under `root` the record at `key` has the encoding `value` (`Some`), or that
    /// there is no such record (`None`). No allocation: fits a device.
    ///
    /// ```
    /// use itc_crypto::{Address, Encode};
    /// use itc_ledger::smt::SparseMerkleTree;
    /// use itc_ledger::{Account, StateKey};
    /// let key = StateKey::Account(Address([1; 20]));
    /// let acct = Account { balance: 5, nonce: 0 };
    /// let mut tree = SparseMerkleTree::new();
    /// tree.insert_hashed(key.key_hash(), itc_ledger::smt::value_hash(&acct.encode_to_vec()));
    /// let proof = tree.prove_hashed(&key.key_hash()).unwrap();
    /// assert!(proof.verify_entry(&tree.root(), &key, Some(&acct.encode_to_vec())).is_ok());
    /// assert!(proof.verify_record(&tree.root(), &key, Some(&acct)).is_ok());
    /// ```
    pub fn verify_entry(
        &self,
        root: &Hash,
        key: &StateKey,
        value: Option<&[u8]>,
    ) -> Result<(), StateProofError> {
        let vh = value.map(smt::value_hash);
        self.verify_hashed(root, &key.key_hash(), vh.as_ref())
    }

    /// Like [`StateProof::verify_entry`] for a typed record, hashing its encoding in a stream.
    pub fn verify_record<R: Encode>(
        &self,
        root: &Hash,
        key: &StateKey,
        record: Option<&R>,
    ) -> Result<(), StateProofError> {
        let vh = record.map(|r| hash_encoded(smt::VALUE_TAG, r));
        self.verify_hashed(root, &key.key_hash(), vh.as_ref())
    }
}

#[cfg(test)]
#[cfg(feature = "alloc")]
mod tests {
    use super::*;

    #[test]
    fn key_hash_matches_tree_hashing_of_the_encoding() {
        let keys = [
            StateKey::Meta,
            StateKey::Validators,
            StateKey::Account(Address([7; 20])),
            StateKey::Vendor(VendorId(3)),
            StateKey::Device(DeviceId::from_hash(Hash([1; 32]))),
            StateKey::Anchor(9),
            StateKey::Plan(Hash([2; 32])),
        ];
        for k in keys {
            let bytes = k.encode_to_vec();
            assert!(bytes.len() <= MAX_STATE_KEY_LEN);
            assert_eq!(k.key_hash(), smt::key_hash(&bytes));
            let (buf, len) = k.to_bytes();
            assert_eq!(&buf[..len], &bytes[..]);
            assert_eq!(StateKey::decode_bytes(&bytes).unwrap(), k);
        }
        assert!(StateKey::decode_bytes(&[7]).is_err());
        assert!(StateKey::decode_bytes(&[0, 0]).is_err());
    }
}

/// The device path with the crate built without `alloc`: encode into stack buffers, decode,
/// verify a two-leaf state by hand. (Runs in every feature configuration.)
#[cfg(test)]
mod no_alloc_tests {
    use super::*;
    use crate::device::{Actions, Grant, OwnershipRecord};
    use crate::smt::hashing::key_bit;
    use crate::smt::{branch_hash, leaf_hash, PathEnd, EMPTY_SUBTREE};
    use itc_crypto::{Decode, SecretKey};

    #[test]
    fn prove_and_check_a_record_without_an_allocator() {
        let key = |i: u8| SecretKey::from_bytes(&[i; 32]).unwrap().public_key();
        let mut rec = OwnershipRecord::new(key(1), VendorId(3), 9, key(2));
        rec.upsert_grant(Grant {
            grantee: key(4),
            actions: Actions::CONTROL,
            expires_at: 10,
        })
        .unwrap();
        let mut rec_buf = [0u8; 512];
        let mut w = SliceWriter::new(&mut rec_buf);
        rec.encode(&mut w);
        let rec_bytes = w.finish().unwrap();

        // A state of two records: the device and one account, hashed by hand.
        let dev = StateKey::Device(rec.device_id());
        let other = StateKey::Account(Address([5; 20]));
        let (kd, ko) = (dev.key_hash(), other.key_hash());
        let ld = leaf_hash(&kd, &smt::value_hash(rec_bytes));
        let lo = leaf_hash(&ko, &smt::value_hash(b"x"));
        // The two keys split at their first differing bit; levels above are single-child.
        let split = (0..256)
            .find(|i| key_bit(&kd, *i) != key_bit(&ko, *i))
            .unwrap();
        let mut root = if key_bit(&kd, split) {
            branch_hash(&lo, &ld)
        } else {
            branch_hash(&ld, &lo)
        };
        for level in (0..split).rev() {
            root = if key_bit(&kd, level) {
                branch_hash(&EMPTY_SUBTREE, &root)
            } else {
                branch_hash(&root, &EMPTY_SUBTREE)
            };
        }
        let mut path = [EMPTY_SUBTREE; 256];
        path[split] = lo;
        let proof =
            StateProof::from_path(path[..=split].iter().copied(), PathEnd::Queried).unwrap();
        let mut proof_buf = [0u8; 1024];
        let mut w = SliceWriter::new(&mut proof_buf);
        proof.encode(&mut w);
        let proof_bytes = w.finish().unwrap();

        // The device side.
        let p = StateProof::decode_bytes(proof_bytes).unwrap();
        assert_eq!(p.verify_entry(&root, &dev, Some(rec_bytes)), Ok(()));
        assert_eq!(p.verify_record(&root, &dev, Some(&rec)), Ok(()));
        assert_eq!(
            p.verify_entry(&root, &dev, None),
            Err(StateProofError::ProofShowsPresent)
        );
        let mut tampered = [0u8; 512];
        tampered[..rec_bytes.len()].copy_from_slice(rec_bytes);
        tampered[40] ^= 1;
        assert_eq!(
            p.verify_entry(&root, &dev, Some(&tampered[..rec_bytes.len()])),
            Err(StateProofError::RootMismatch)
        );
        let back = OwnershipRecord::decode_bytes(rec_bytes).unwrap();
        assert!(back.authorize(&key(4), Actions::CONTROL, 9).is_ok());
    }
}
