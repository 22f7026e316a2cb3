//! The "never sign two conflicting things" rule, in one place.
//!
//! Every signature the replica makes on a pre-prepare, prepare, commit or view-change first
//! asks the safety guard (`SafetyGuard`, crate-private). The guard refuses:
//!
//! * a vote in a view below the highest view the replica has entered (once it asked for view
//!   `v + 1` it never votes in `v` again), and
//! * a second vote of the same phase at the same height and view for another header.
//!
//! Whatever the guard approves it also returns as a [`Durable`] record, emitted as an
//! `Action::Persist` **before** the message it protects: the integrator must make it durable
//! before carrying out any later action. A replica restored from the accumulated
//! [`SafetyRecord`] therefore cannot equivocate, even if it crashed right after sending. The
//! record also keeps the replica's prepared certificates and stable checkpoint, so a restarted
//! replica's view-change still carries what PBFT's safety argument needs from it.
//!
//! Memory is bounded: entries at or below the stable checkpoint are pruned, and the replica
//! only votes inside its watermark window.
//!
//! The record also keeps the **batch** of every header the replica voted for
//! ([`Durable::Batch`], persisted before the first vote on it, at most
//! [`MAX_DURABLE_BATCHES_PER_HEIGHT`] per height): a prepared header's batch must stay
//! retrievable across crashes (issue 16.2, see [`crate::availability`]).
//!
//! ## Restore and the view-change quorum-intersection argument
//!
//! [`Replica::restore`](crate::Replica::restore) puts back **every** prepared certificate in the
//! record above the stable checkpoint — also those at or below the restored tip — so a restored
//! replica's view-changes carry what they would have carried without the crash. Dropping the
//! certificates at or below the tip (as the replica did before issue 16) is *not* safe:
//!
//! * PBFT's argument: if header `H` committed at height `h` in view `v`, its commit quorum
//!   (more than 2/3 of the power) contains honest replicas `X` holding more than 1/3 of the
//!   power, each of which was prepared for `H` in `v` and keeps that certificate (or a
//!   later-view one, by induction also for `H`) until a stable checkpoint at or above `h`.
//!   Any view-change quorum (more than 2/3) intersects `X`, so every later new view either
//!   re-proposes `H` at `h` or starts above a checkpoint at or above `h`.
//! * A replica of `X` that delivered `H` and restarted with its tip at or above `h` would,
//!   dropping its certificate, break the intersection. With n = 7 (f = 2): `X` = {A, B, C}, A
//!   delivered `H` and restarted; a view-change quorum {A, D, E, F1, F2} (D, E never
//!   prepared, F1 and F2 Byzantine and silent about `H`) carries no certificate at `h`, so the
//!   new primary F1 may propose `H'` at `h`; B and C, prepared but not committed, accept it
//!   (it extends their chain), and {F1, F2, B, C, D} prepare and commit `H'`: A and the
//!   others disagree at `h`. The refusal of A itself to vote (it committed `h`) does not help:
//!   the other intersection members did not commit.
//! * Keeping them is exactly PBFT's argument again: `Durable::Prepared` is persisted before
//!   the commit vote that needs it, and the record is pruned only when a checkpoint becomes
//!   stable at the replica — the same point where its log is. So every honest member of `X`
//!   in a view-change quorum, restarted or not, either still carries its certificate for `h`
//!   or carries a stable checkpoint at or above `h`; in the second case the new view's
//!   re-proposals start above `h`, in the first they include `H` (or a later-view
//!   certificate, which by induction is for `H` too).
//!
//! (The guard itself is crate-private; its refusals are tested below and reach an integrator
//! as `PbftError::Guard`.)

use alloc::collections::BTreeMap;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::Hash;

use alloc::vec::Vec;

use crate::header::BlockHeader;
use crate::message::{CheckpointCertificate, Phase, PreparedCertificate};
use crate::request::Batch;

/// Most batches a [`SafetyRecord`] keeps per height (the oldest goes first); the bound of
/// [`Config::max_batches_per_height`](crate::Config::max_batches_per_height).
pub const MAX_DURABLE_BATCHES_PER_HEIGHT: usize = 16;

/// Why the guard refused to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The vote is for a view below one already entered.
    #[error("view {view} is below entered view {entered}")]
    StaleView {
        /// The vote's view.
        view: u64,
        /// The highest view entered.
        entered: u64,
    },
    /// A different header was already signed in this phase, height and view.
    #[error("already signed another header for {phase:?} at height {height} in view {view}")]
    Conflict {
        /// The phase.
        phase: Phase,
        /// The height.
        height: u64,
        /// The view.
        view: u64,
    },
}

/// One fact that must be durable before the replica's next output is acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durable {
    /// The replica entered (or asked for) this view.
    View(u64),
    /// The replica signed a vote.
    Vote {
        /// Phase of the vote.
        phase: Phase,
        /// View of the vote.
        view: u64,
        /// Height of the vote.
        height: u64,
        /// Header voted for.
        header_hash: Hash,
    },
    /// The replica became prepared (kept for its view-changes).
    Prepared(PreparedCertificate),
    /// A checkpoint became stable; records at or below it are pruned.
    Stable(CheckpointCertificate),
    /// The batch of a header this replica is about to vote for (issue 16.2: the batch of
    /// every header that can become prepared must stay retrievable, across crashes too). Kept
    /// by header hash, at most [`MAX_DURABLE_BATCHES_PER_HEIGHT`] per height, until a stable
    /// checkpoint at or above its height. The replica checked `batch` against
    /// `header.batch_root`.
    Batch {
        /// The header voted for.
        header: BlockHeader,
        /// Its batch.
        batch: Batch,
    },
}

/// The accumulated durable state: feed it every [`Durable`] in order with
/// [`SafetyRecord::apply`], and hand it to `Replica::restore` after a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SafetyRecord {
    view: u64,
    votes: BTreeMap<(u64, Phase), (u64, Hash)>,
    prepared: BTreeMap<u64, PreparedCertificate>,
    stable: Option<CheckpointCertificate>,
    /// Batches by height, oldest first, with their header hashes.
    batches: BTreeMap<u64, Vec<(Hash, BlockHeader, Batch)>>,
}

impl SafetyRecord {
    /// Applies one durable fact.
    pub fn apply(&mut self, fact: &Durable) {
        match fact {
            Durable::View(v) => self.view = self.view.max(*v),
            Durable::Vote {
                phase,
                view,
                height,
                header_hash,
            } => {
                let entry = self
                    .votes
                    .entry((*height, *phase))
                    .or_insert((*view, *header_hash));
                if entry.0 <= *view {
                    *entry = (*view, *header_hash);
                }
            }
            Durable::Prepared(cert) => {
                let keep = self
                    .prepared
                    .get(&cert.height())
                    .is_none_or(|old| old.view() <= cert.view());
                if keep {
                    self.prepared.insert(cert.height(), cert.clone());
                }
            }
            Durable::Stable(cert) => {
                let h = cert.height;
                if self.stable.as_ref().is_none_or(|s| s.height < h) {
                    self.stable = Some(cert.clone());
                }
                self.votes.retain(|(height, _), _| *height > h);
                self.prepared.retain(|height, _| *height > h);
                self.batches.retain(|height, _| *height > h);
            }
            Durable::Batch { header, batch } => {
                let h = header.height;
                if self.stable.as_ref().is_some_and(|s| s.height >= h) {
                    return;
                }
                let hash = header.hash();
                let list = self.batches.entry(h).or_default();
                if list.iter().any(|(x, _, _)| *x == hash) {
                    return;
                }
                if list.len() >= MAX_DURABLE_BATCHES_PER_HEIGHT {
                    list.remove(0);
                }
                list.push((hash, *header, batch.clone()));
            }
        }
    }

    /// Removes and returns the batches (the replica keeps them in its batch store).
    pub(crate) fn take_batches(&mut self) -> Vec<(BlockHeader, Batch)> {
        core::mem::take(&mut self.batches)
            .into_values()
            .flat_map(|l| l.into_iter().map(|(_, h, b)| (h, b)))
            .collect()
    }

    /// The durable batches above the stable checkpoint: (header, batch), by height.
    pub fn batches(&self) -> impl Iterator<Item = (&BlockHeader, &Batch)> {
        self.batches
            .values()
            .flat_map(|l| l.iter().map(|(_, h, b)| (h, b)))
    }

    /// Highest view entered.
    pub fn view(&self) -> u64 {
        self.view
    }

    /// Prepared certificates above the stable checkpoint, by height.
    pub fn prepared(&self) -> impl Iterator<Item = &PreparedCertificate> {
        self.prepared.values()
    }

    /// The stable checkpoint certificate, if any beyond genesis.
    pub fn stable(&self) -> Option<&CheckpointCertificate> {
        self.stable.as_ref()
    }

    /// Number of vote entries kept (for memory-bound tests).
    pub fn vote_entries(&self) -> usize {
        self.votes.len()
    }
}

/// The signing gate. Owns the [`SafetyRecord`] of the replica it guards.
#[derive(Debug, Clone, Default)]
pub(crate) struct SafetyGuard {
    record: SafetyRecord,
}

impl SafetyGuard {
    /// A guard restored from durable state (use `SafetyRecord::default()` for a fresh replica).
    pub fn new(record: SafetyRecord) -> Self {
        SafetyGuard { record }
    }

    /// The guard's own record: views and votes (and the stable checkpoint). Prepared
    /// certificates are only in the integrator's accumulated record.
    pub fn record(&self) -> &SafetyRecord {
        &self.record
    }

    /// Asks to sign a `phase` vote for `header_hash` at `height` in `view`. `Ok(Some(fact))`:
    /// sign, after persisting `fact`; `Ok(None)`: sign, the same vote is already durable.
    pub fn approve_vote(
        &mut self,
        phase: Phase,
        view: u64,
        height: u64,
        header_hash: Hash,
    ) -> Result<Option<Durable>, GuardError> {
        if view < self.record.view {
            return Err(GuardError::StaleView {
                view,
                entered: self.record.view,
            });
        }
        if let Some((v, h)) = self.record.votes.get(&(height, phase)) {
            if *v > view {
                return Err(GuardError::StaleView { view, entered: *v });
            }
            if *v == view {
                return if *h == header_hash {
                    Ok(None)
                } else {
                    Err(GuardError::Conflict {
                        phase,
                        height,
                        view,
                    })
                };
            }
        }
        let fact = Durable::Vote {
            phase,
            view,
            height,
            header_hash,
        };
        self.record.apply(&fact);
        Ok(Some(fact))
    }

    /// Enters `view` (on sending a view-change or accepting a new-view). Views never go back.
    pub fn enter_view(&mut self, view: u64) -> Result<Option<Durable>, GuardError> {
        if view < self.record.view {
            return Err(GuardError::StaleView {
                view,
                entered: self.record.view,
            });
        }
        if view == self.record.view {
            return Ok(None);
        }
        let fact = Durable::View(view);
        self.record.apply(&fact);
        Ok(Some(fact))
    }

    /// Wraps a prepared certificate for persistence. The guard itself does not keep it (its
    /// decisions need only views and votes; the replica keeps the certificate in its log), but
    /// the integrator's accumulated record must, for [`crate::Replica::restore`].
    pub fn record_prepared(&mut self, cert: PreparedCertificate) -> Durable {
        Durable::Prepared(cert)
    }

    /// Records a stable checkpoint and prunes below it.
    pub fn record_stable(&mut self, cert: CheckpointCertificate) -> Durable {
        let fact = Durable::Stable(cert);
        self.record.apply(&fact);
        fact
    }
}

impl Encode for Durable {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            Durable::View(v) => {
                w.write(&[0]);
                v.encode(w);
            }
            Durable::Vote {
                phase,
                view,
                height,
                header_hash,
            } => {
                w.write(&[1]);
                phase.encode(w);
                view.encode(w);
                height.encode(w);
                header_hash.encode(w);
            }
            Durable::Prepared(c) => {
                w.write(&[2]);
                c.encode(w);
            }
            Durable::Stable(c) => {
                w.write(&[3]);
                c.encode(w);
            }
            Durable::Batch { header, batch } => {
                w.write(&[4]);
                header.encode(w);
                batch.encode(w);
            }
        }
    }
}

impl Decode for Durable {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_u8()? {
            0 => Ok(Durable::View(u64::decode(r)?)),
            1 => Ok(Durable::Vote {
                phase: Phase::decode(r)?,
                view: u64::decode(r)?,
                height: u64::decode(r)?,
                header_hash: Hash::decode(r)?,
            }),
            2 => Ok(Durable::Prepared(PreparedCertificate::decode(r)?)),
            3 => Ok(Durable::Stable(CheckpointCertificate::decode(r)?)),
            4 => Ok(Durable::Batch {
                header: BlockHeader::decode(r)?,
                batch: Batch::decode(r)?,
            }),
            tag => Err(DecodeError::UnknownVariant {
                type_name: "Durable",
                tag: u64::from(tag),
            }),
        }
    }
}

/// Most entries a decoded record may hold (votes and prepared certificates).
pub const MAX_RECORD_ENTRIES: usize = 4 * crate::message::MAX_PREPARED_PER_VIEW_CHANGE;

impl Encode for SafetyRecord {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.view.encode(w);
        write_varint(w, self.votes.len() as u64);
        for ((height, phase), (view, hash)) in &self.votes {
            height.encode(w);
            phase.encode(w);
            view.encode(w);
            hash.encode(w);
        }
        write_varint(w, self.prepared.len() as u64);
        for c in self.prepared.values() {
            c.encode(w);
        }
        self.stable.encode(w);
        write_varint(w, self.batches.values().map(Vec::len).sum::<usize>() as u64);
        for list in self.batches.values() {
            for (_, header, batch) in list {
                header.encode(w);
                batch.encode(w);
            }
        }
    }
}

impl Decode for SafetyRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let non_canonical = DecodeError::NonCanonical {
            type_name: "SafetyRecord",
        };
        let view = u64::decode(r)?;
        let n = r.read_count(MAX_RECORD_ENTRIES, 49)?;
        let mut votes = BTreeMap::new();
        let mut last = None;
        for _ in 0..n {
            let key = (u64::decode(r)?, Phase::decode(r)?);
            if last.is_some_and(|l| l >= key) {
                return Err(non_canonical);
            }
            last = Some(key);
            votes.insert(key, (u64::decode(r)?, Hash::decode(r)?));
        }
        let n = r.read_count(MAX_RECORD_ENTRIES, 1)?;
        let mut prepared = BTreeMap::new();
        let mut last_height = None;
        for _ in 0..n {
            let c = PreparedCertificate::decode(r)?;
            if last_height.is_some_and(|l| l >= c.height()) {
                return Err(non_canonical);
            }
            last_height = Some(c.height());
            prepared.insert(c.height(), c);
        }
        let stable: Option<CheckpointCertificate> = Option::decode(r)?;
        let n = r.read_count(
            MAX_RECORD_ENTRIES.saturating_mul(MAX_DURABLE_BATCHES_PER_HEIGHT),
            1,
        )?;
        let mut batches: BTreeMap<u64, Vec<(Hash, BlockHeader, Batch)>> = BTreeMap::new();
        let floor = stable.as_ref().map_or(0, |s| s.height);
        let mut last_height = 0u64;
        for _ in 0..n {
            let header = BlockHeader::decode(r)?;
            let batch = Batch::decode(r)?;
            let h = header.height;
            let hash = header.hash();
            // Ascending heights, above the stable checkpoint, distinct headers, within the
            // per-height bound: the only form `encode` writes.
            if h < last_height || h <= floor {
                return Err(non_canonical);
            }
            last_height = h;
            let list = batches.entry(h).or_default();
            if list.len() >= MAX_DURABLE_BATCHES_PER_HEIGHT
                || list.iter().any(|(x, _, _)| *x == hash)
            {
                return Err(non_canonical);
            }
            list.push((hash, header, batch));
        }
        if batches.len() > MAX_RECORD_ENTRIES {
            return Err(non_canonical);
        }
        Ok(SafetyRecord {
            view,
            votes,
            prepared,
            stable,
            batches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn views_never_go_back() {
        let mut g = SafetyGuard::default();
        assert!(g.enter_view(3).unwrap().is_some());
        assert_eq!(g.enter_view(3), Ok(None));
        assert_eq!(
            g.enter_view(2),
            Err(GuardError::StaleView {
                view: 2,
                entered: 3
            })
        );
        assert!(matches!(
            g.approve_vote(Phase::Commit, 2, 1, Hash::ZERO),
            Err(GuardError::StaleView { .. })
        ));
        // A later view may vote for another header at the same height.
        assert!(g.approve_vote(Phase::Prepare, 3, 1, Hash([1; 32])).is_ok());
        assert!(g.approve_vote(Phase::Prepare, 4, 1, Hash([2; 32])).is_ok());
        // ...but not go back to view 3 for that height.
        assert!(g.approve_vote(Phase::Prepare, 3, 1, Hash([1; 32])).is_err());
    }

    #[test]
    fn a_restored_guard_refuses_what_the_original_refused() {
        let mut g = SafetyGuard::default();
        let mut record = SafetyRecord::default();
        for (phase, h) in [
            (Phase::Prepare, 1u64),
            (Phase::Commit, 1),
            (Phase::PrePrepare, 2),
        ] {
            if let Some(f) = g.approve_vote(phase, 0, h, Hash([h as u8; 32])).unwrap() {
                record.apply(&f);
            }
        }
        // Persist as bytes and restore.
        let bytes = record.encode_to_vec();
        let restored = SafetyRecord::decode_bytes(&bytes).unwrap();
        assert_eq!(&restored, g.record());
        let mut g2 = SafetyGuard::new(restored);
        assert!(g2
            .approve_vote(Phase::Prepare, 0, 1, Hash([9; 32]))
            .is_err());
        assert!(g2
            .approve_vote(Phase::PrePrepare, 0, 2, Hash([9; 32]))
            .is_err());
        assert_eq!(
            g2.approve_vote(Phase::Commit, 0, 1, Hash([1; 32])),
            Ok(None)
        );
    }

    #[test]
    fn batches_are_kept_by_header_bounded_per_height_pruned_at_stable_and_round_trip() {
        use crate::request::{ClientId, Request};
        let entry = |height: u64, tag: u8| {
            let batch = Batch::new(alloc::vec![Request::new(ClientId(1), 1, alloc::vec![tag])]);
            let mut header = BlockHeader::genesis(Hash::ZERO, Hash::ZERO, 0);
            header.height = height;
            header.batch_root = batch.root();
            Durable::Batch { header, batch }
        };
        let mut record = SafetyRecord::default();
        record.apply(&entry(3, 1));
        record.apply(&entry(3, 1)); // the same header again
        record.apply(&entry(3, 2)); // a later-view proposal at the same height: kept beside it
        record.apply(&entry(5, 1));
        assert_eq!(record.batches().count(), 3);
        for tag in 0..MAX_DURABLE_BATCHES_PER_HEIGHT as u8 + 3 {
            record.apply(&entry(4, 10 + tag));
        }
        assert_eq!(
            record.batches().filter(|(h, _)| h.height == 4).count(),
            MAX_DURABLE_BATCHES_PER_HEIGHT
        );
        let bytes = record.encode_to_vec();
        assert_eq!(SafetyRecord::decode_bytes(&bytes).as_ref(), Ok(&record));
        for fact in [entry(3, 1), entry(4, 7)] {
            let b = fact.encode_to_vec();
            assert_eq!(Durable::decode_bytes(&b), Ok(fact));
        }
        // Heights out of order are not canonical.
        let mut swapped = SafetyRecord::default();
        swapped.apply(&entry(3, 1));
        swapped.apply(&entry(5, 1));
        let mut bytes = swapped.encode_to_vec();
        let one = entry(3, 1).encode_to_vec().len() - 1;
        let tail = bytes.len() - 2 * one;
        let (a, b) = bytes[tail..].split_at(one);
        let reordered: Vec<u8> = b.iter().chain(a).copied().collect();
        bytes.truncate(tail);
        bytes.extend(reordered);
        assert!(SafetyRecord::decode_bytes(&bytes).is_err());
        // A stable checkpoint prunes them with the rest.
        record.apply(&Durable::Stable(CheckpointCertificate {
            height: 4,
            block_hash: Hash::ZERO,
            state_root: Hash::ZERO,
            votes: Default::default(),
        }));
        assert_eq!(
            record.batches().map(|(h, _)| h.height).collect::<Vec<_>>(),
            [5]
        );
        record.apply(&entry(2, 9));
        assert_eq!(
            record.batches().count(),
            1,
            "nothing at or below the checkpoint"
        );
    }

    proptest! {
        #[test]
        fn never_approves_two_hashes_for_one_slot(ops in proptest::collection::vec((0u8..3, 0u64..3, 0u64..3, 0u8..3), 0..60)) {
            let mut g = SafetyGuard::default();
            let mut approved: BTreeMap<(u8, u64, u64), u8> = BTreeMap::new();
            for (p, view, height, hash) in ops {
                let phase = [Phase::PrePrepare, Phase::Prepare, Phase::Commit][p as usize];
                if g.approve_vote(phase, view, height, Hash([hash; 32])).is_ok() {
                    let prev = approved.insert((p, view, height), hash);
                    prop_assert!(prev.is_none_or(|h| h == hash));
                }
            }
        }

        #[test]
        fn record_decoding_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = SafetyRecord::decode_bytes(&data);
            let _ = Durable::decode_bytes(&data);
        }
    }
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    #[test]
    fn the_guard_signs_once_per_slot_and_refuses_a_conflict() {
        let mut guard = SafetyGuard::new(SafetyRecord::default());
        let first = guard
            .approve_vote(Phase::Prepare, 0, 1, Hash([1; 32]))
            .unwrap();
        assert!(first.is_some()); // new: must be persisted before sending
        assert_eq!(
            guard.approve_vote(Phase::Prepare, 0, 1, Hash([1; 32])),
            Ok(None)
        );
        assert!(matches!(
            guard.approve_vote(Phase::Prepare, 0, 1, Hash([2; 32])),
            Err(GuardError::Conflict { .. })
        ));
    }
}
