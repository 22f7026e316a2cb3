//! Checking a commit certificate for as little as it costs.
//!
//! A light client checks a header's [`CommitCertificate`] in one of two ways:
//!
//! * **sequential** — the header follows the tip; its signers must hold more than 2/3 of the
//!   set the tip handed over;
//! * **skipping** (Tendermint's light client, §"skipping verification") — the header is far
//!   ahead; its signers must hold more than a *trust threshold* (default 1/3) of the power of
//!   the set we trust **and** more than 2/3 of the header's own set. More than 1/3 of trusted
//!   power means at least one validator we trust vouches for the header.
//!
//! Both tests run in **one pass** over the signers ([`check_commit`]): each signer's power in
//! both sets is looked up by *public key* (the two sets index validators differently), the
//! arithmetic decides first whether the signers could pass at all (no curve operation for a
//! certificate that cannot), then signers are picked greedily — the one contributing most to the
//! tests still unmet, strongest first — until both are met. Only the picked signatures are
//! verified, together, with [`itc_crypto::batch`]; a signature counted for the trust test is
//! never verified again for the quorum test (CometBFT's light client verifies the same
//! signatures twice, cometbft#2365).
//!
//! A bad signature among those picked rejects the certificate, as in
//! [`QuorumCertificate::verify`](itc_crypto::quorum::QuorumCertificate::verify): a certificate is
//! an all-or-nothing object and a bad one points to a faulty assembler.
//!
//! Verifying only what a quorum needs leaves the other signatures of an accepted certificate
//! unchecked: they may be junk. So whatever the client keeps or hands on keeps only the
//! signers this check verified ([`Tally::verified`]), and [fork evidence](crate::evidence),
//! which *accuses* signers, is checked with [`check_every_signature`].

use itc_crypto::batch::{self, BatchError, ItemRef, SignedItems};
use itc_crypto::quorum::{SignatureStore, SignerBitmap, Threshold, ValidatorSet};
use itc_crypto::Hash;
use itc_pbft::certificate::{commit_digest, CommitCertificate};
use itc_pbft::BlockHeader;

use crate::error::SpvError;

/// What a certificate check established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Verified power in the header's own set (more than 2/3 of it).
    pub(crate) quorum_power: u64,
    /// Verified power in the trusted set (more than the trust threshold), when skipping.
    pub(crate) trusted_power: u64,
    /// The signers (by index in the header's set) whose signatures were verified: the only
    /// ones anything downstream may rely on.
    pub(crate) verified: SignerBitmap,
}

#[cfg(test)]
impl Tally {
    /// Signatures actually verified.
    pub(crate) fn signatures_verified(&self) -> usize {
        self.verified.count()
    }
}

/// Which of a certificate's signatures to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Just enough, strongest first, to meet the tests.
    Needed,
    /// Every one (to accuse signers, not merely to accept a header).
    Every,
}

/// One signer of the certificate: its index in the header's set, its slot in the signature
/// list, and its power in the header's set and in the trusted set.
#[derive(Debug, Clone, Copy)]
struct Signer {
    index: usize,
    slot: usize,
    own: u64,
    trusted: u64,
}

/// The picked signers, as a batch for [`itc_crypto::batch`] without copying keys or signatures.
struct Picked<'a, S: SignatureStore, const N: usize> {
    set: &'a ValidatorSet<N>,
    certificate: &'a CommitCertificate<S>,
    digest: Hash,
    picks: &'a [Signer],
}

impl<S: SignatureStore, const N: usize> SignedItems for Picked<'_, S, N> {
    fn count(&self) -> usize {
        self.picks.len()
    }
    fn item(&self, i: usize) -> Option<ItemRef<'_>> {
        let p = self.picks.get(i)?;
        Some(ItemRef {
            public_key: &self.set.get(p.index)?.key,
            message: self.digest.as_bytes(),
            signature: self.certificate.votes().signatures().get(p.slot)?,
        })
    }
}

/// Checks that `certificate` commits `header`, signed by more than 2/3 of `own_set` (the set
/// the header names, hash already checked by the caller) and, when `trusted` is given, by more
/// than its threshold of the trusted set's power. Each signature is verified at most once, and
/// only as many as the tests need (e.g. 5 of 7 equal validators; trusting the same set, the
/// 1/3 test rides on the same 5).
pub(crate) fn check_commit<S: SignatureStore, const N: usize, const M: usize>(
    header: &BlockHeader,
    certificate: &CommitCertificate<S>,
    own_set: &ValidatorSet<N>,
    trusted: Option<(&ValidatorSet<M>, Threshold)>,
) -> Result<Tally, SpvError> {
    check(header, certificate, own_set, trusted, Scope::Needed)
}

/// As [`check_commit`] without a trusted set, verifying **every** signature the certificate
/// carries: any junk under any bit rejects it. For evidence that names signers.
pub(crate) fn check_every_signature<S: SignatureStore, const N: usize>(
    header: &BlockHeader,
    certificate: &CommitCertificate<S>,
    set: &ValidatorSet<N>,
) -> Result<Tally, SpvError> {
    check(
        header,
        certificate,
        set,
        None::<(&ValidatorSet<N>, Threshold)>,
        Scope::Every,
    )
}

fn check<S: SignatureStore, const N: usize, const M: usize>(
    header: &BlockHeader,
    certificate: &CommitCertificate<S>,
    own_set: &ValidatorSet<N>,
    trusted: Option<(&ValidatorSet<M>, Threshold)>,
    scope: Scope,
) -> Result<Tally, SpvError> {
    if certificate.view() < header.view {
        return Err(SpvError::ViewBeforeProposal {
            cert_view: certificate.view(),
            header_view: header.view,
        });
    }
    let votes = certificate.votes();
    let bits = votes.signers().count();
    let signatures = votes.signatures().len();
    if bits != signatures {
        return Err(SpvError::SignatureCountMismatch { bits, signatures });
    }

    // Every signer with its power in both sets; the bitmap cannot name a signer twice.
    let mut signers: heapless::Vec<Signer, N> = heapless::Vec::new();
    let (mut own_total, mut trusted_total) = (0u64, 0u64);
    for (slot, index) in votes.signers().iter_ones().enumerate() {
        let Some(v) = own_set.get(index) else {
            return Err(SpvError::SignerOutOfRange {
                index,
                len: own_set.len(),
            });
        };
        let trusted_power = trusted
            .and_then(|(t, _)| t.index_of(&v.key).and_then(|i| t.get(i)))
            .map_or(0, |tv| tv.power);
        own_total = own_total.saturating_add(v.power);
        trusted_total = trusted_total.saturating_add(trusted_power);
        signers
            .push(Signer {
                index,
                slot,
                own: v.power,
                trusted: trusted_power,
            })
            .map_err(|_| SpvError::SignerOutOfRange {
                index,
                len: own_set.len(),
            })?;
    }

    // Arithmetic first: a certificate that cannot pass costs no curve operation.
    let quorum = Threshold::TwoThirds;
    let own_all = own_set.total_power();
    if !quorum.is_met(own_total, own_all) {
        return Err(SpvError::InsufficientQuorum {
            have: own_total,
            need_above: quorum.bar(own_all),
        });
    }
    let (trusted_all, trust) = match trusted {
        Some((t, th)) => (t.total_power(), Some(th)),
        None => (0, None),
    };
    if let Some(th) = trust {
        if !th.is_met(trusted_total, trusted_all) {
            return Err(SpvError::InsufficientTrust {
                have: trusted_total,
                need_above: th.bar(trusted_all),
            });
        }
    }

    let (picks, own_have, trusted_have) = match scope {
        Scope::Every => (signers, own_total, trusted_total),
        Scope::Needed => pick::<N>(&signers, own_all, trusted_all, trust)?,
    };

    let digest = commit_digest(certificate.view(), header.height, &header.hash());
    let batch = Picked {
        set: own_set,
        certificate,
        digest,
        picks: &picks,
    };
    match batch::verify_all(&batch) {
        Ok(()) => {
            let mut verified = SignerBitmap::new();
            for p in &picks {
                verified.set(p.index);
            }
            Ok(Tally {
                quorum_power: own_have,
                trusted_power: trusted_have,
                verified,
            })
        }
        Err(BatchError::InvalidSignatures { first, .. }) => Err(SpvError::ForgedSignature {
            index: picks.get(first).map_or(0, |p| p.index),
        }),
        Err(_) => Err(SpvError::ForgedSignature {
            index: picks.first().map_or(0, |p| p.index),
        }),
    }
}

/// Greedy pick: the signer contributing most to the tests still unmet. Contributions are
/// compared as fractions of each set's total, cross-multiplied to stay in integers. Returns
/// the picks and the power they hold in the own and the trusted set.
///
/// Never inlined: its 256-entry `taken` table is gone before the signatures are verified.
#[inline(never)]
fn pick<const N: usize>(
    signers: &[Signer],
    own_all: u64,
    trusted_all: u64,
    trust: Option<Threshold>,
) -> Result<(heapless::Vec<Signer, N>, u64, u64), SpvError> {
    let quorum = Threshold::TwoThirds;
    let mut picks: heapless::Vec<Signer, N> = heapless::Vec::new();
    let mut taken = [false; 256];
    let (mut own_have, mut trusted_have) = (0u64, 0u64);
    loop {
        let need_own = !quorum.is_met(own_have, own_all);
        let need_trust = trust.is_some_and(|th| !th.is_met(trusted_have, trusted_all));
        if !need_own && !need_trust {
            break;
        }
        let score = |s: &Signer| -> u128 {
            let mut v = 0u128;
            if need_own {
                v += u128::from(s.own) * u128::from(trusted_all.max(1));
            }
            if need_trust {
                v += u128::from(s.trusted) * u128::from(own_all.max(1));
            }
            v
        };
        let best = signers
            .iter()
            .filter(|s| !taken.get(s.index).copied().unwrap_or(true))
            .map(|s| (score(s), *s))
            .filter(|(v, _)| *v > 0)
            // Highest score; ties go to the lower index so the choice is deterministic.
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.index.cmp(&a.1.index)));
        let Some((_, s)) = best else {
            // Unreachable after the arithmetic check; answered as the shortfall it would be.
            return Err(SpvError::InsufficientQuorum {
                have: own_have,
                need_above: quorum.bar(own_all),
            });
        };
        if let Some(t) = taken.get_mut(s.index) {
            *t = true;
        }
        own_have = own_have.saturating_add(s.own);
        trusted_have = trusted_have.saturating_add(s.trusted);
        picks.push(s).map_err(|_| SpvError::SignerOutOfRange {
            index: s.index,
            len: signers.len(),
        })?;
    }
    Ok((picks, own_have, trusted_have))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use itc_crypto::quorum::Validator;
    use itc_crypto::{SecretKey, Signature, Signer as _};

    fn keys(range: core::ops::Range<u8>) -> Vec<SecretKey> {
        range
            .map(|i| SecretKey::from_bytes(&[i; 32]).unwrap())
            .collect()
    }

    fn set(keys: &[SecretKey], powers: &[u64]) -> ValidatorSet<16> {
        ValidatorSet::new(keys.iter().zip(powers).map(|(k, p)| Validator {
            key: k.public_key(),
            power: *p,
        }))
        .unwrap()
    }

    fn header(set: &ValidatorSet<16>) -> BlockHeader {
        let g = BlockHeader::genesis(Hash::ZERO, set.hash(), 0);
        BlockHeader {
            height: 500,
            timestamp_ms: 9,
            ..g
        }
    }

    fn certify(
        h: &BlockHeader,
        set: &ValidatorSet<16>,
        signers: &[&SecretKey],
    ) -> CommitCertificate<Vec<Signature>> {
        let d = commit_digest(0, h.height, &h.hash());
        let mut c = CommitCertificate::new(0);
        for k in signers {
            let i = set.index_of(&k.public_key()).unwrap();
            c.insert(i, k.sign_digest(&d).unwrap()).unwrap();
        }
        c
    }

    #[test]
    fn sequential_verifies_only_a_quorum() {
        let k = keys(1..5);
        let s = set(&k, &[1, 1, 1, 1]);
        let h = header(&s);
        let all: Vec<&SecretKey> = k.iter().collect();
        let c = certify(&h, &s, &all);
        let t = check_commit::<_, 16, 16>(&h, &c, &s, None).unwrap();
        assert_eq!(t.signatures_verified(), 3);
        assert_eq!(t.quorum_power, 3);
    }

    #[test]
    fn skipping_checks_each_signature_once() {
        // Same set trusted and signing: the 1/3 test rides on the 2/3 one, 3 checks not 5.
        let k = keys(1..5);
        let s = set(&k, &[1, 1, 1, 1]);
        let h = header(&s);
        let all: Vec<&SecretKey> = k.iter().collect();
        let c = certify(&h, &s, &all);
        let t = check_commit(&h, &c, &s, Some((&s, Threshold::OneThird))).unwrap();
        assert_eq!(t.signatures_verified(), 3);
        assert_eq!((t.quorum_power, t.trusted_power), (3, 3));
    }

    #[test]
    fn skipping_maps_by_key_not_index() {
        // Trusted {1,2,3,4}; new {3,4,5,6}: indices differ, keys 3 and 4 are shared.
        let old = keys(1..5);
        let new = keys(3..7);
        let trusted = set(&old, &[1, 1, 1, 1]);
        let own = set(&new, &[1, 1, 1, 1]);
        let h = header(&own);
        let signers: Vec<&SecretKey> = new.iter().collect();
        let c = certify(&h, &own, &signers);
        let t = check_commit(&h, &c, &own, Some((&trusted, Threshold::OneThird))).unwrap();
        assert_eq!(t.trusted_power, 2); // keys 3 and 4: 2 of 4 > 1/3
        assert_eq!(t.signatures_verified(), 3);
        // Without the shared keys the trust test fails before any signature is checked.
        let strangers: Vec<&SecretKey> = new[2..].iter().chain(&new[..1]).collect();
        let c = certify(&h, &own, &strangers);
        assert_eq!(
            check_commit(&h, &c, &own, Some((&trusted, Threshold::OneThird))),
            Err(SpvError::InsufficientTrust {
                have: 1,
                need_above: 1
            })
        );
    }

    #[test]
    fn strongest_signers_first() {
        // Powers 10, 1, 1, 1: quorum needs > 26/3, so the heavy validator plus nobody else
        // would be 10 of 13 > 2/3: one signature, whatever order the bitmap lists them in.
        let k = keys(1..5);
        let s = set(&k, &[10, 1, 1, 1]);
        let h = header(&s);
        let all: Vec<&SecretKey> = k.iter().collect();
        let c = certify(&h, &s, &all);
        let t = check_commit::<_, 16, 16>(&h, &c, &s, None).unwrap();
        assert_eq!((t.signatures_verified(), t.quorum_power), (1, 10));
        // Skipping with a trusted set where the heavy one is a stranger: the trust test is met
        // by the light signers that are shared, picked by what they add to the unmet test.
        let light: Vec<SecretKey> = k[1..].to_vec();
        let trusted = set(&light, &[1, 1, 1]);
        let t = check_commit(&h, &c, &s, Some((&trusted, Threshold::OneThird))).unwrap();
        assert_eq!(t.quorum_power, 12); // the heavy one (quorum) and two light (trust): minimal
        assert_eq!(t.trusted_power, 2);
        assert_eq!(t.signatures_verified(), 3);
    }

    #[test]
    fn unpicked_junk_passes_the_quorum_check_but_not_the_full_one() {
        // Three genuine signatures and junk under the fourth bit: the quorum check needs only
        // three, so it accepts — and says which three it verified. Evidence checks every one.
        let k = keys(1..5);
        let s = set(&k, &[1, 1, 1, 1]);
        let h = header(&s);
        let by_index: Vec<&SecretKey> = (0..4)
            .map(|i| {
                k.iter()
                    .find(|x| s.index_of(&x.public_key()) == Some(i))
                    .unwrap()
            })
            .collect();
        let mut c = certify(&h, &s, &by_index[..3]);
        c.insert(3, Signature::from_bytes([7; 64])).unwrap();
        let t = check_commit::<_, 16, 16>(&h, &c, &s, None).unwrap();
        assert_eq!(t.verified.iter_ones().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            check_every_signature(&h, &c, &s),
            Err(SpvError::ForgedSignature { index: 3 })
        );
        let all = certify(&h, &s, &by_index);
        let t = check_every_signature(&h, &all, &s).unwrap();
        assert_eq!((t.signatures_verified(), t.quorum_power), (4, 4));
    }

    #[test]
    fn forged_and_short_certificates() {
        let k = keys(1..5);
        let s = set(&k, &[1, 1, 1, 1]);
        let h = header(&s);
        let c = certify(&h, &s, &[&k[0], &k[1]]);
        assert_eq!(
            check_commit::<_, 16, 16>(&h, &c, &s, None),
            Err(SpvError::InsufficientQuorum {
                have: 2,
                need_above: 2
            })
        );
        let mut other = h;
        other.height += 1;
        let c = certify(&other, &s, &[&k[0], &k[1], &k[2]]);
        assert!(matches!(
            check_commit::<_, 16, 16>(&h, &c, &s, None),
            Err(SpvError::ForgedSignature { .. })
        ));
    }
}
