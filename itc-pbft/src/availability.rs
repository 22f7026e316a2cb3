//! Batch availability (issue 16.2): the batch of every header that can become prepared stays
//! retrievable by its header hash.
//!
//! A log slot holds one proposal per view, and a later-view proposal for the same height
//! replaces it; before this store the slot also held the only copy of the batch, which was
//! neither persisted nor served to peers (catch-up serves committed blocks only). A header
//! whose batch reached one honest replica (which then overwrote or lost it in a crash) and a
//! Byzantine one (which withholds it) was re-proposed view after view and never delivered.
//!
//! The rules that close it:
//!
//! * Batches are kept **by header hash**, up to [`Config::max_batches_per_height`] per height
//!   (a later-view proposal adds an entry instead of replacing one), until a stable checkpoint
//!   at or above their height prunes them.
//! * A replica persists a batch ([`Durable::Batch`], through the usual rule: durable before
//!   the step's messages leave) **before its first vote** on the header (a backup's prepare,
//!   a primary's pre-prepare), and [`Replica::restore`] takes those batches back. A replica
//!   never votes prepare for a header whose batch it does not hold: a re-proposal whose batch
//!   it lacks waits until it fetched it.
//! * A replica that holds a header (a re-proposal, or a commit quorum) but not its batch
//!   broadcasts a signed [`BatchRequest`] and retries on
//!   its batch-fetch deadline; every replica serves the batches it holds,
//!   committed or not ([`Message::BatchResponse`]), at most
//!   [`Config::max_batch_serves_per_peer`] per peer per fetch interval. The requester accepts a
//!   response only for a header it asked for and only if the batch matches the header's
//!   batch root.
//!
//! Why this suffices: a prepared header has votes (pre-prepare and prepares) from validators
//! holding more than 2/3 of the power, so honest validators holding more than 1/3 minus the
//! primary's power voted for it — with equal power at least `f ≥ 1` honest backups, plus the
//! primary when the header was a fresh proposal. Each honest voter persisted the batch before
//! voting, so a crash does not lose it and a later-view proposal does not overwrite it; any of
//! them answers the request. Eviction within a height happens only once more than
//! `max_batches_per_height` different headers were seen at that height (that many view changes
//! at one height); it removes the batch of the oldest vote first, and never the batch of the
//! header of the replica's own prepared certificate (the one its view-changes carry).
//!
//! [`Config::max_batches_per_height`]: crate::Config::max_batches_per_height
//! [`Config::max_batch_serves_per_peer`]: crate::Config::max_batch_serves_per_peer
//! [`Durable::Batch`]: crate::Durable::Batch
//! [`Replica::restore`]: crate::Replica::restore

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use itc_crypto::{Hash, Signer};

use crate::action::{Action, Timer};
use crate::error::PbftError;
use crate::header::BlockHeader;
use crate::message::{BatchRequest, Message, Phase};
use crate::replica::Replica;
use crate::request::Batch;
use crate::safety::Durable;

/// One stored batch.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub header: BlockHeader,
    pub hash: Hash,
    pub batch: Batch,
    /// 0: never voted on here; `view + 1` of the latest vote; `u64::MAX`: pinned (the header
    /// of this replica's prepared certificate).
    pub rank: u64,
    /// True once a `Durable::Batch` for it was emitted (or it was restored from one).
    pub durable: bool,
}

/// Batches by height and header hash, at most `cap` per height.
#[derive(Debug, Clone)]
pub(crate) struct BatchStore {
    by_height: BTreeMap<u64, Vec<Entry>>,
    cap: usize,
}

impl BatchStore {
    pub(crate) fn new(cap: usize) -> Self {
        BatchStore {
            by_height: BTreeMap::new(),
            cap: cap.max(1),
        }
    }

    /// The entry for `hash` at `height`.
    pub(crate) fn get(&self, height: u64, hash: &Hash) -> Option<&Entry> {
        self.by_height
            .get(&height)?
            .iter()
            .find(|e| e.hash == *hash)
    }

    fn get_mut(&mut self, height: u64, hash: &Hash) -> Option<&mut Entry> {
        self.by_height
            .get_mut(&height)?
            .iter_mut()
            .find(|e| e.hash == *hash)
    }

    /// The batch for `hash` at `height`.
    pub(crate) fn batch(&self, height: u64, hash: &Hash) -> Option<&Batch> {
        self.get(height, hash).map(|e| &e.batch)
    }

    /// Adds a batch (the caller checked it against the header). If the height is full, the
    /// lowest-ranked entry below `rank` is evicted; if there is none, nothing is stored and
    /// false is returned. An existing entry only has its rank raised.
    pub(crate) fn insert(
        &mut self,
        header: BlockHeader,
        hash: Hash,
        batch: Batch,
        rank: u64,
    ) -> bool {
        let h = header.height;
        if let Some(e) = self.get_mut(h, &hash) {
            e.rank = e.rank.max(rank);
            return true;
        }
        let cap = self.cap;
        let list = self.by_height.entry(h).or_default();
        if list.len() >= cap {
            // Lowest rank first; among equals the oldest (first in the list).
            let victim = list
                .iter()
                .enumerate()
                .min_by_key(|(i, e)| (e.rank, *i))
                .map(|(i, e)| (i, e.rank));
            match victim {
                Some((i, r)) if r < rank || (r == rank && r != u64::MAX) => {
                    list.remove(i);
                }
                _ => return false,
            }
        }
        list.push(Entry {
            header,
            hash,
            batch,
            rank,
            durable: false,
        });
        true
    }

    /// Raises the rank of a stored entry (a vote, or a prepared certificate: `u64::MAX`).
    pub(crate) fn raise(&mut self, height: u64, hash: &Hash, rank: u64) {
        if let Some(e) = self.get_mut(height, hash) {
            e.rank = e.rank.max(rank);
        }
    }

    /// Marks the entry durable; returns the header and batch to persist if it was not yet.
    pub(crate) fn mark_durable(
        &mut self,
        height: u64,
        hash: &Hash,
    ) -> Option<(BlockHeader, Batch)> {
        let e = self.get_mut(height, hash)?;
        if e.durable {
            return None;
        }
        e.durable = true;
        Some((e.header, e.batch.clone()))
    }

    /// Drops every height at or below `height` (a stable checkpoint).
    pub(crate) fn prune(&mut self, height: u64) {
        self.by_height.retain(|h, _| *h > height);
    }

    /// Number of batches held.
    pub(crate) fn len(&self) -> usize {
        self.by_height.values().map(Vec::len).sum()
    }
}

impl<S: Signer> Replica<S> {
    /// True if the batch of `hash` at `h` is held; makes it durable (once) and ranks it by the
    /// current view (a vote is about to be cast on it).
    pub(crate) fn hold_durably(&mut self, h: u64, hash: &Hash) -> bool {
        if self.batches.get(h, hash).is_none() {
            return false;
        }
        self.batches.raise(h, hash, self.view.saturating_add(1));
        if let Some((header, batch)) = self.batches.mark_durable(h, hash) {
            self.persist(Some(Durable::Batch { header, batch }));
        }
        true
    }

    /// Asks every peer for the batch of `hash` at `h` (if not asked yet) and keeps asking on
    /// its batch-fetch deadline until it arrives or the height is garbage-collected.
    pub(crate) fn want_batch(&mut self, h: u64, hash: Hash) -> Result<(), PbftError> {
        if self.batches.get(h, &hash).is_some() || self.wanted.contains_key(&hash) {
            return Ok(());
        }
        let cap = (self.config.window as usize).saturating_mul(self.config.max_batches_per_height);
        if h <= self.low || h > self.high() || self.wanted.len() >= cap {
            return Ok(());
        }
        self.wanted.insert(hash, h);
        self.send_batch_request(h, hash)?;
        if !self.timers.contains_key(&Timer::BatchFetch) {
            let d = self.now.saturating_add(self.config.fetch_timeout_ms);
            self.set_timer(Timer::BatchFetch, d);
        }
        Ok(())
    }

    fn send_batch_request(&mut self, h: u64, hash: Hash) -> Result<(), PbftError> {
        let Some(me) = self.my_index(h).or_else(|| {
            self.epochs
                .latest()
                .and_then(|e| e.set.index_of(&self.key))
                .map(|i| i as crate::message::ReplicaIndex)
        }) else {
            return Ok(()); // an observer fetches certified blocks instead
        };
        let mut req = BatchRequest {
            height: h,
            header_hash: hash,
            sender: me,
            signature: itc_crypto::Signature([0; 64]),
        };
        req.signature = self.stats.sign(&self.signer, &req.digest())?;
        self.push(Action::Broadcast(Message::BatchRequest(req)));
        Ok(())
    }

    /// Re-sends every outstanding batch request (lost requests or answers, crashed holders).
    pub(crate) fn on_batch_fetch_timeout(&mut self) -> Result<(), PbftError> {
        let low = self.low;
        self.wanted.retain(|_, h| *h > low);
        let wanted: Vec<(Hash, u64)> = self.wanted.iter().map(|(x, h)| (*x, *h)).collect();
        for (hash, h) in wanted {
            self.send_batch_request(h, hash)?;
        }
        if !self.wanted.is_empty() {
            let d = self.now.saturating_add(self.config.fetch_timeout_ms);
            self.set_timer(Timer::BatchFetch, d);
        }
        Ok(())
    }

    /// Serves a batch this replica holds (prepared or committed alike) to the requester.
    pub(crate) fn on_batch_request(&mut self, req: BatchRequest) -> Result<(), PbftError> {
        let h = req.height;
        let Some(epoch) = self.epoch_for(h).or_else(|| self.epochs.latest()) else {
            return Err(PbftError::UnknownValidatorSet(h));
        };
        let Some(key) = epoch.set.get(usize::from(req.sender)).map(|v| v.key) else {
            return Err(PbftError::UnknownSender(req.sender));
        };
        if key == self.key {
            return Err(PbftError::Duplicate);
        }
        let Some(entry) = self.batches.get(h, &req.header_hash) else {
            return Err(PbftError::UnknownBatch(h));
        };
        let (header, batch) = (entry.header, entry.batch.clone());
        if !self
            .stats
            .verify_lazy(&key, || req.digest(), &req.signature)
        {
            return Err(PbftError::InvalidSignature(req.sender));
        }
        let interval = self.config.fetch_timeout_ms;
        let now = self.now;
        let served = self.serves.entry(req.sender).or_insert((now, 0));
        if now.saturating_sub(served.0) >= interval {
            *served = (now, 0);
        }
        if served.1 >= self.config.max_batch_serves_per_peer {
            return Err(PbftError::BatchServeLimit(req.sender));
        }
        served.1 = served.1.saturating_add(1);
        self.push(Action::Send {
            to: key,
            message: Message::BatchResponse { header, batch },
        });
        Ok(())
    }

    /// Takes a batch asked for: checked against the header, stored, then voted on or
    /// delivered if that was waiting for it.
    pub(crate) fn on_batch_response(
        &mut self,
        header: BlockHeader,
        batch: Batch,
    ) -> Result<(), PbftError> {
        let hash = header.hash();
        let h = header.height;
        if self.wanted.get(&hash) != Some(&h) {
            return Err(PbftError::UnexpectedBatch);
        }
        let bytes = batch.payload_bytes();
        if batch.len() > self.config.max_batch_requests || bytes > self.config.max_batch_bytes {
            return Err(crate::error::ProposalError::BatchTooLarge {
                count: batch.len(),
                bytes,
            }
            .into());
        }
        if batch.root() != header.batch_root {
            return Err(PbftError::FetchedBatchMismatch);
        }
        self.wanted.remove(&hash);
        if self.wanted.is_empty() {
            self.cancel_timer(Timer::BatchFetch);
        }
        self.batches
            .insert(header, hash, batch, self.view.saturating_add(1));
        // A re-proposal waiting for this batch: prepare it now.
        let awaiting = self.log.get(&h).is_some_and(|s| {
            s.awaiting_batch && s.view == self.view && s.header_hash == hash && self.active
        });
        if awaiting && self.hold_durably(h, &hash) {
            if let Some(s) = self.log.get_mut(&h) {
                s.awaiting_batch = false;
                s.accepted = true;
            }
            self.cast_vote(Phase::Prepare, h, hash)?;
        }
        self.check_progress(h)?;
        self.deliver()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{ClientId, Request};

    fn header(height: u64, tag: u8) -> (BlockHeader, Hash, Batch) {
        let batch = Batch::new(alloc::vec![Request::new(
            ClientId(1),
            u64::from(tag),
            alloc::vec![tag]
        )]);
        let mut h = BlockHeader::genesis(Hash::ZERO, Hash::ZERO, 0);
        h.height = height;
        h.batch_root = batch.root();
        (h, h.hash(), batch)
    }

    #[test]
    fn a_later_proposal_adds_instead_of_overwriting_and_eviction_spares_the_pinned() {
        let mut s = BatchStore::new(2);
        let (h1, x1, b1) = header(5, 1);
        let (h2, x2, b2) = header(5, 2);
        let (h3, x3, b3) = header(5, 3);
        assert!(s.insert(h1, x1, b1, 1));
        s.raise(5, &x1, u64::MAX); // our prepared certificate's header
        assert!(s.insert(h2, x2, b2.clone(), 2));
        assert!(s.batch(5, &x1).is_some() && s.batch(5, &x2).is_some());
        // Full: the unpinned, lowest-ranked one goes, the pinned one stays.
        assert!(s.insert(h3, x3, b3, 3));
        assert!(s.batch(5, &x1).is_some());
        assert!(s.batch(5, &x2).is_none());
        assert!(s.batch(5, &x3).is_some());
        // Nothing lower-ranked than an unvoted newcomer: refused.
        assert!(!s.insert(h2, x2, b2, 0));
        assert_eq!(s.len(), 2);
        assert!(s.mark_durable(5, &x3).is_some());
        assert!(s.mark_durable(5, &x3).is_none(), "persisted once");
        s.prune(5);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_response_is_taken_only_if_asked_for_and_matching_the_header() {
        use crate::cluster::test_key;
        use crate::replica::ChainGenesis;
        use crate::{Config, Message, PbftError};
        use itc_crypto::quorum::{Validator, ValidatorSet};
        let keys: Vec<_> = (0..4).map(|i| test_key(i).unwrap()).collect();
        let set = ValidatorSet::new(keys.iter().map(|k| Validator {
            key: k.public_key(),
            power: 1,
        }))
        .unwrap();
        let genesis = ChainGenesis {
            validators: set,
            state_root: Hash::ZERO,
            timestamp_ms: 0,
        };
        let config = Config {
            max_batch_requests: 2,
            ..Config::default()
        };
        let mut r = crate::Replica::new(config, keys[1].clone(), &genesis).unwrap();
        let (h, x, b) = header(1, 1);
        let (_, _, other) = header(1, 2);
        let response = |batch: &Batch| Message::BatchResponse {
            header: h,
            batch: batch.clone(),
        };
        assert_eq!(
            r.handle_message(response(&b), 1),
            Err(PbftError::UnexpectedBatch)
        );
        r.wanted.insert(x, 1);
        assert_eq!(
            r.handle_message(response(&other), 1),
            Err(PbftError::FetchedBatchMismatch)
        );
        let big = Batch::new(
            (0..3)
                .map(|i| Request::new(ClientId(1), i, alloc::vec![1]))
                .collect(),
        );
        assert!(matches!(
            r.handle_message(response(&big), 1),
            Err(PbftError::InvalidProposal(_))
        ));
        assert_eq!(r.batches_held(), 0);
        assert_eq!(r.handle_message(response(&b), 1), Ok(()));
        assert_eq!((r.batches_held(), r.batches_wanted()), (1, 0));
        assert_eq!(
            r.handle_message(response(&b), 1),
            Err(PbftError::UnexpectedBatch),
            "only once"
        );
    }
}
