//! Batch verification agrees with single verification: the BIP340 vector table through every
//! backend, adversarial corruptions each found at their index, property tests over random
//! batches, the verified-signature cache, and a source that changes under the verifier.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::Cell;

use itc_crypto::batch::{
    self, Backend, BatchError, BatchItem, FixedBatchVerifier, ItemRef, SignedItems, VerifiedCache,
};
use itc_crypto::{keccak256, Hash, PublicKey, SecretKey, Signature, Signer};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Every backend compiled in.
fn backends() -> Vec<Backend> {
    vec![
        Backend::Batch,
        Backend::Single,
        #[cfg(feature = "libsecp256k1")]
        Backend::Libsecp256k1,
    ]
}

struct Row {
    index: usize,
    pk: [u8; 32],
    msg: Vec<u8>,
    sig: Signature,
    valid: bool,
}

fn bip340_rows() -> Vec<Row> {
    include_str!("vectors/bip340.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.splitn(8, ',').collect();
            Row {
                index: f[0].parse().unwrap(),
                pk: hex::decode(f[2]).unwrap().try_into().unwrap(),
                msg: hex::decode(f[4]).unwrap(),
                sig: Signature(hex::decode(f[5]).unwrap().try_into().unwrap()),
                valid: f[6] == "TRUE",
            }
        })
        .collect()
}

/// Owned key + raw message + signature, viewed as an [`ItemRef`].
struct Raw {
    pk: PublicKey,
    msg: Vec<u8>,
    sig: Signature,
}

impl batch::AsItem for Raw {
    fn as_item(&self) -> ItemRef<'_> {
        ItemRef {
            public_key: &self.pk,
            message: &self.msg,
            signature: &self.sig,
        }
    }
}

#[test]
fn bip340_valid_rows_batch_verify_together_with_every_backend() {
    let valid: Vec<Raw> = bip340_rows()
        .into_iter()
        .filter(|r| r.valid)
        .map(|r| Raw {
            pk: PublicKey::from_bytes(&r.pk).unwrap(),
            msg: r.msg,
            sig: r.sig,
        })
        .collect();
    assert_eq!(valid.len(), 9, "rows 0-4 and 15-18");
    for backend in backends() {
        assert_eq!(
            batch::verify_all_with(backend, &valid[..]),
            Ok(()),
            "{backend:?}"
        );
        assert_eq!(batch::invalid_indices_with(backend, &valid[..]).count(), 0);
    }
}

#[test]
fn each_bip340_invalid_row_fails_its_batch_and_is_identified() {
    let rows = bip340_rows();
    let valid: Vec<Raw> = rows
        .iter()
        .filter(|r| r.valid)
        .map(|r| Raw {
            pk: PublicKey::from_bytes(&r.pk).unwrap(),
            msg: r.msg.clone(),
            sig: r.sig,
        })
        .collect();
    let mut checked = 0;
    for row in rows.iter().filter(|r| !r.valid) {
        let Ok(pk) = PublicKey::from_bytes(&row.pk) else {
            // Rows 5 and 14: the key itself is invalid, so no batch item can even be built.
            assert!(matches!(row.index, 5 | 14), "row {}", row.index);
            continue;
        };
        // Put the bad row at every position of the valid batch.
        for pos in 0..=valid.len() {
            let mut items: Vec<Raw> = valid
                .iter()
                .map(|v| Raw {
                    pk: v.pk,
                    msg: v.msg.clone(),
                    sig: v.sig,
                })
                .collect();
            items.insert(
                pos,
                Raw {
                    pk,
                    msg: row.msg.clone(),
                    sig: row.sig,
                },
            );
            for backend in backends() {
                assert_eq!(
                    batch::verify_all_with(backend, &items[..]),
                    Err(BatchError::InvalidSignatures {
                        first: pos,
                        count: 1
                    }),
                    "row {} at {pos} with {backend:?}",
                    row.index
                );
                assert_eq!(
                    batch::invalid_indices_with(backend, &items[..]).collect::<Vec<_>>(),
                    vec![pos]
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 8, "rows 6-13");
}

fn key(i: u64) -> SecretKey {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&(i + 1).to_be_bytes());
    SecretKey::from_bytes(&b).unwrap()
}

fn good_batch(n: usize, seed: u64) -> Vec<BatchItem> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let k = key(rng.next_u64() % 1_000_000);
            let mut d = [0u8; 32];
            rng.fill_bytes(&mut d);
            let mut aux = [0u8; 32];
            rng.fill_bytes(&mut aux);
            let digest = Hash(d);
            BatchItem::new(
                k.public_key(),
                digest,
                k.sign_digest_with_aux(&digest, &aux).unwrap(),
            )
        })
        .collect()
}

/// The ways an adversary can spoil one item.
fn corrupt(item: &mut BatchItem, how: u8, bit: usize) {
    match how % 7 {
        0 => item.signature.0[bit % 512 / 8] ^= 1 << (bit % 8), // any bit of (r, s)
        1 => item.digest.0[bit % 32] ^= 1,                      // a different message
        2 => item.public_key = key(2_000_000 + bit as u64).public_key(), // wrong signer
        3 => item.signature.0[32..].copy_from_slice(&[0xff; 32]), // s ≥ n
        4 => item.signature.0[..32].copy_from_slice(&[0xff; 32]), // r ≥ p
        5 => {
            // r = 5: below p but x³ + 7 is not a square, so no point R exists.
            item.signature.0[..32].copy_from_slice(&[0; 32]);
            item.signature.0[31] = 5;
        }
        _ => {
            // s + 1: still a scalar, wrong value.
            let last = item.signature.0[63];
            item.signature.0[63] = last.wrapping_add(1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn all_good_batches_pass(n in 0usize..40, seed in any::<u64>()) {
        let items = good_batch(n, seed);
        prop_assert_eq!(batch::verify_all(&items[..]), Ok(()));
        prop_assert_eq!(batch::verify_all_with(Backend::Single, &items[..]), Ok(()));
    }

    #[test]
    fn one_bad_signature_fails_the_batch_and_is_named(
        n in 1usize..40, seed in any::<u64>(), at in any::<prop::sample::Index>(),
        how in any::<u8>(), bit in any::<usize>(),
    ) {
        let mut items = good_batch(n, seed);
        let bad = at.index(n);
        corrupt(&mut items[bad], how, bit);
        // The corruption must really break it (a flipped bit always does; check anyway).
        let single_ok = items[bad].public_key
            .verify_digest(&items[bad].digest, &items[bad].signature).is_ok();
        prop_assume!(!single_ok);
        for backend in backends() {
            prop_assert_eq!(
                batch::verify_all_with(backend, &items[..]),
                Err(BatchError::InvalidSignatures { first: bad, count: 1 })
            );
        }
        prop_assert_eq!(batch::invalid_indices(&items[..]).collect::<Vec<_>>(), vec![bad]);
    }

    #[test]
    fn any_set_of_bad_signatures_is_found_exactly(
        n in 1usize..48, seed in any::<u64>(), mask in any::<u64>(), how in any::<u8>(),
    ) {
        let mut items = good_batch(n, seed);
        let mut expected = Vec::new();
        for (i, item) in items.iter_mut().enumerate() {
            if mask >> (i % 64) & 1 == 1 && (mask.rotate_left(i as u32) & 3) == 0 {
                corrupt(item, how.wrapping_add(i as u8), i * 31);
                expected.push(i);
            }
        }
        let found: Vec<usize> = batch::invalid_indices(&items[..]).collect();
        let reference: Vec<usize> =
            batch::invalid_indices_with(Backend::Single, &items[..]).collect();
        prop_assert_eq!(&found, &expected);
        prop_assert_eq!(&found, &reference);
        let verdict = batch::verify_all(&items[..]);
        match expected.first() {
            None => prop_assert_eq!(verdict, Ok(())),
            Some(&first) => prop_assert_eq!(
                verdict,
                Err(BatchError::InvalidSignatures { first, count: expected.len() })
            ),
        }
    }

    #[test]
    fn arbitrary_signature_bytes_never_panic_and_agree_with_single(
        sig in prop::collection::vec(any::<u8>(), 64), seed in any::<u64>(), pos in 0usize..6,
    ) {
        let mut items = good_batch(6, seed);
        items[pos].signature = Signature(sig.try_into().unwrap());
        let single = items[pos].public_key
            .verify_digest(&items[pos].digest, &items[pos].signature).is_ok();
        let expected = if single {
            Ok(())
        } else {
            Err(BatchError::InvalidSignatures { first: pos, count: 1 })
        };
        prop_assert_eq!(batch::verify_all(&items[..]), expected);
    }
}

#[test]
fn a_large_backlog_across_equation_chunks_names_each_bad_signature() {
    // 300 signatures span three equations of 128; bad ones sit at chunk edges and inside.
    let mut items = good_batch(300, 42);
    let bad = [0usize, 127, 128, 200, 299];
    for (k, &i) in bad.iter().enumerate() {
        corrupt(&mut items[i], k as u8, i);
    }
    assert_eq!(
        batch::invalid_indices(&items[..]).collect::<Vec<_>>(),
        bad.to_vec()
    );
    assert_eq!(
        batch::verify_all(&items[..]),
        Err(BatchError::InvalidSignatures { first: 0, count: 5 })
    );
    for &i in &bad {
        items[i] = good_batch(1, i as u64)[0];
    }
    assert_eq!(batch::verify_all(&items[..]), Ok(()));
}

#[test]
fn duplicates_and_mixed_message_lengths_verify() {
    let k = key(7);
    let msgs: [&[u8]; 4] = [b"", b"a", &[0x11; 32], &[0x22; 100]];
    let mut items: Vec<Raw> = msgs
        .iter()
        .map(|m| Raw {
            pk: k.public_key(),
            msg: m.to_vec(),
            sig: k.sign_raw(m, &[0u8; 32]).unwrap(),
        })
        .collect();
    let dup = Raw {
        pk: items[2].pk,
        msg: items[2].msg.clone(),
        sig: items[2].sig,
    };
    items.push(dup);
    for backend in backends() {
        assert_eq!(batch::verify_all_with(backend, &items[..]), Ok(()));
    }
    // The same bad signature twice is reported twice.
    items[2].sig.0[5] ^= 1;
    items[4].sig.0[5] ^= 1;
    for backend in backends() {
        assert_eq!(
            batch::invalid_indices_with(backend, &items[..]).collect::<Vec<_>>(),
            vec![2, 4]
        );
    }
}

/// A source that answers differently the second time it is asked for item 0.
struct Shifty {
    items: Vec<BatchItem>,
    bad: BatchItem,
    calls: Cell<usize>,
}

impl SignedItems for Shifty {
    fn count(&self) -> usize {
        self.items.len()
    }
    fn item(&self, index: usize) -> Option<ItemRef<'_>> {
        use batch::AsItem;
        if index == 0 {
            let calls = self.calls.get();
            self.calls.set(calls + 1);
            // Good while the seed is hashed, bad inside the equation, good again after.
            if calls == 1 {
                return Some(self.bad.as_item());
            }
        }
        self.items.get(index).map(AsItem::as_item)
    }
}

#[test]
fn a_source_that_changes_under_the_verifier_is_never_accepted() {
    let items = good_batch(5, 3);
    let mut bad = items[0];
    bad.signature.0[40] ^= 1;
    let shifty = Shifty {
        items,
        bad,
        calls: Cell::new(0),
    };
    assert_eq!(
        batch::verify_all(&shifty),
        Err(BatchError::InconsistentSource)
    );
}

#[test]
fn empty_and_missing_items() {
    let none: [BatchItem; 0] = [];
    assert_eq!(batch::verify_all(&none), Ok(()));

    /// Claims more items than it has: the missing one is invalid.
    struct Short(Vec<BatchItem>);
    impl SignedItems for Short {
        fn count(&self) -> usize {
            self.0.len() + 1
        }
        fn item(&self, index: usize) -> Option<ItemRef<'_>> {
            use batch::AsItem;
            self.0.get(index).map(AsItem::as_item)
        }
    }
    let short = Short(good_batch(3, 9));
    assert_eq!(
        batch::verify_all(&short),
        Err(BatchError::InvalidSignatures { first: 3, count: 1 })
    );
}

#[test]
fn cache_skips_what_it_holds_and_only_learns_from_success() {
    let items = good_batch(10, 5);
    let mut cache = VerifiedCache::<64>::new();

    // A failing batch leaves the cache as it was.
    let mut spoiled = items.clone();
    spoiled[4].signature.0[0] ^= 1;
    assert_eq!(
        batch::verify_all_cached(&spoiled[..], &mut cache),
        Err(BatchError::InvalidSignatures { first: 4, count: 1 })
    );
    assert!(cache.is_empty());

    assert_eq!(batch::verify_all_cached(&items[..], &mut cache), Ok(()));
    assert_eq!(cache.len(), 10);
    for it in &items {
        assert!(cache.contains(&it.public_key, it.digest.as_bytes(), &it.signature));
    }
    // A cached item with its signature changed is a different key: still checked.
    assert_eq!(
        batch::verify_all_cached(&spoiled[..], &mut cache),
        Err(BatchError::InvalidSignatures { first: 4, count: 1 })
    );
    // Mixed: cached ones skipped, new good ones verified and learnt.
    let mut mixed = items[..5].to_vec();
    mixed.extend(good_batch(3, 77));
    assert_eq!(batch::verify_all_cached(&mixed[..], &mut cache), Ok(()));
    assert_eq!(cache.len(), 13);

    // The single-signature path.
    let extra = good_batch(1, 99)[0];
    let mut bad = extra;
    bad.digest.0[0] ^= 1;
    assert!(cache
        .verify(&bad.public_key, &bad.digest, &bad.signature)
        .is_err());
    assert_eq!(cache.len(), 13);
    assert!(cache
        .verify(&extra.public_key, &extra.digest, &extra.signature)
        .is_ok());
    assert_eq!(cache.len(), 14);
    cache.clear();
    assert!(cache.is_empty());
}

#[test]
fn cache_stays_within_its_capacity() {
    let mut cache = VerifiedCache::<16>::new();
    let items = good_batch(100, 8);
    for it in &items {
        cache
            .verify(&it.public_key, &it.digest, &it.signature)
            .unwrap();
        assert!(cache.len() <= cache.capacity());
    }
    assert_eq!(cache.capacity(), 16);
    let remembered = items
        .iter()
        .filter(|it| cache.contains(&it.public_key, it.digest.as_bytes(), &it.signature))
        .count();
    assert_eq!(remembered, cache.len());
    assert!(remembered >= 8, "a full cache remembers most of its slots");
    // The most recent insertion is always present.
    let last = items.last().unwrap();
    assert!(cache.contains(&last.public_key, last.digest.as_bytes(), &last.signature));
}

#[test]
fn fixed_verifier_rejects_overflow_without_changing() {
    let items = good_batch(4, 1);
    let mut v = FixedBatchVerifier::<3>::new();
    for it in &items[..3] {
        v.push(it.public_key, it.digest, it.signature).unwrap();
    }
    assert_eq!(
        v.push(items[3].public_key, items[3].digest, items[3].signature),
        Err(BatchError::CapacityExceeded { capacity: 3 })
    );
    assert_eq!(v.items(), &items[..3]);
    assert_eq!(v.verify(), Ok(()));
    v.clear();
    assert!(v.is_empty());
    let mut bad = items[0];
    bad.signature.0[10] ^= 2;
    v.push(bad.public_key, bad.digest, bad.signature).unwrap();
    v.push(items[1].public_key, items[1].digest, items[1].signature)
        .unwrap();
    assert_eq!(v.invalid_indices().collect::<Vec<_>>(), vec![0]);
}

#[test]
fn growable_verifier_and_tuple_items() {
    let items = good_batch(6, 2);
    let mut v = batch::BatchVerifier::with_capacity(6);
    for it in &items {
        v.push(it.public_key, it.digest, it.signature);
    }
    assert_eq!(v.len(), 6);
    assert_eq!(v.verify(), Ok(()));
    let tuples: Vec<(PublicKey, Hash, Signature)> = items
        .iter()
        .map(|i| (i.public_key, i.digest, i.signature))
        .collect();
    assert_eq!(batch::verify_all(&tuples), Ok(()));
    let mut heap: heapless::Vec<BatchItem, 8> = heapless::Vec::new();
    heap.extend(items.iter().copied());
    assert_eq!(batch::verify_all(&heap), Ok(()));
    // Protocol signatures made with the tagged API verify in a batch over their digests.
    let k = key(1);
    const T: itc_crypto::DomainTag = itc_crypto::DomainTag::new(b"itc/test/batch/v1");
    let sig = k.sign(T, b"vote").unwrap();
    let d = itc_crypto::tagged_hash(T, b"vote");
    assert_eq!(
        batch::verify_all(&[BatchItem::new(k.public_key(), d, sig)]),
        Ok(())
    );
    assert!(batch::verify_all(&[BatchItem::new(k.public_key(), keccak256(b"vote"), sig)]).is_err());
}

/// Two invalid signatures whose errors cancel in a plain sum (`s₁ + δ`, `s₂ − δ`): a batch
/// check without per-signature coefficients would accept both; ours names both.
#[test]
fn errors_that_cancel_in_a_plain_sum_are_still_caught() {
    use k256::elliptic_curve::ff::PrimeField;
    let mut items = good_batch(6, 11);
    let delta = k256::Scalar::from(0x1234_5678u64);
    let shift = |sig: &mut Signature, by: k256::Scalar| {
        let s_bytes: [u8; 32] = sig.0[32..].try_into().unwrap();
        let s = k256::Scalar::from_repr(s_bytes.into()).unwrap() + by;
        sig.0[32..].copy_from_slice(&s.to_bytes());
    };
    shift(&mut items[1].signature, delta);
    shift(&mut items[4].signature, -delta);
    // Both now fail on their own…
    assert!(items[1]
        .public_key
        .verify_digest(&items[1].digest, &items[1].signature)
        .is_err());
    // …and the batch says so, naming both.
    assert_eq!(
        batch::verify_all(&items[..]),
        Err(BatchError::InvalidSignatures { first: 1, count: 2 })
    );
    assert_eq!(
        batch::invalid_indices(&items[..]).collect::<Vec<_>>(),
        vec![1, 4]
    );
}
