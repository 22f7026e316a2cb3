//! Back-fill and old headers: keeping the header accumulator complete after skipping, and
//! proving a header the ring has long forgotten.
//!
//! Skipping verification jumps over headers, but the accumulator ([`crate::mmr`]) needs every
//! header in order. The driver therefore downloads the skipped headers (184 bytes each, no
//! certificates) and links them by hash up to the next verified header; only when the chain of
//! links arrives there do they count as verified. Until then they are *pending*: one extra
//! accumulator, bounded like the first.

use itc_pbft::BlockHeader;

use crate::client::{Backfill, LightClient};
use crate::error::SpvError;
use crate::mmr::{header_leaf, MmrProof};
use crate::ring::VerifiedHeader;

impl<const K: usize, const N: usize> LightClient<K, N> {
    /// Extends the accumulator with headers that were skipped over, from
    /// [`accumulated_height`](Self::accumulated_height) upwards: each must link to the one
    /// before by hash, and the chain becomes trusted when it reaches a verified header we hold.
    /// Returns the new accumulated height.
    ///
    /// Headers between two verified ones arrive over several batches, and forward hash links
    /// cannot tell which of them lies until the chain reaches the verified header: a full node
    /// can forge a consistent suffix. So unconfirmed headers are held as a *pending* back-fill
    /// (one extra accumulator, bounded), and a batch that does not link
    /// ([`SpvError::BackfillMismatch`]) drops that pending part — never anything verified —
    /// so an honest full node can always finish the job. Other errors change nothing.
    ///
    /// ```
    /// use itc_crypto::ValidatorSet;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, LightClient, Request, Response};
    ///
    /// let mut chain = TestChain::new(4, 1_000);
    /// chain.extend(40);
    /// let mut client: LightClient<8, 8> = LightClient::new(chain.anchor(), Config::new(1_000), chain.now_ms()).unwrap();
    /// // Skip straight to 40 (same validator set, so more than 1/3 of it signed).
    /// let far = *chain.server().store().header(40).unwrap();
    /// let cert = chain.certificate(40).unwrap();
    /// let set = chain.set_of_epoch(0);
    /// client.verify_skipping(&far, &cert, &set, None::<&ValidatorSet>, chain.now_ms()).unwrap();
    /// assert_eq!(client.accumulated_height(), 1); // only genesis so far
    /// assert_eq!(client.backfill_needed(), Some((1, 40)));
    ///
    /// // Back-fill 1..=39 in batches of 16, then prove header 7 long after.
    /// while let Some((from, _)) = client.backfill_needed() {
    ///     let Response::<8>::Headers(h) = chain.server().answer(&Request::Headers { from, count: 16 }) else { panic!() };
    ///     client.backfill(&h).unwrap();
    /// }
    /// assert_eq!(client.accumulated_height(), 41);
    /// let Response::<8>::HeaderProof { header, proof } = chain.server().answer(
    ///     &Request::HeaderProof { height: 7, leaf_count: client.accumulated_height() },
    /// ) else { panic!() };
    /// assert_eq!(client.verify_old_header(&header, &proof).unwrap().height(), 7);
    /// ```
    pub fn backfill(&mut self, headers: &[BlockHeader]) -> Result<u64, SpvError> {
        self.check_running()?;
        match self.try_backfill(headers) {
            Err(e @ SpvError::BackfillMismatch { .. }) => {
                self.backfill = None;
                Err(e)
            }
            other => other,
        }
    }

    fn try_backfill(&mut self, headers: &[BlockHeader]) -> Result<u64, SpvError> {
        let tip = self.tip.height();
        let mut pending = self.backfill.clone().unwrap_or_else(|| Backfill {
            history: self.history.clone(),
            last_hash: self.history_tip,
        });
        let mut committed: Option<(Backfill, usize)> = None;
        for (i, h) in headers.iter().enumerate() {
            let expected = pending.history.leaf_count();
            if h.height != expected || h.height > tip {
                return Err(SpvError::BackfillOutOfOrder {
                    expected,
                    found: h.height,
                });
            }
            if h.previous != pending.last_hash {
                return Err(SpvError::BackfillMismatch { height: h.height });
            }
            let hash = h.hash();
            pending.history.append(header_leaf(h.height, &hash))?;
            pending.last_hash = hash;
            if let Some(known) = self.ring.get(h.height) {
                if known.hash() != hash {
                    return Err(SpvError::BackfillMismatch { height: h.height });
                }
                committed = Some((pending.clone(), i));
            }
        }
        if let Some((c, upto)) = committed {
            self.history = c.history;
            self.history_tip = c.last_hash;
            // Linked to a verified header, these are verified too: recent ones join the ring.
            let floor = self.ring.oldest().map_or(0, VerifiedHeader::height);
            for h in headers.iter().take(upto) {
                if h.height > floor || self.ring.len() < K {
                    self.ring.insert(VerifiedHeader::new(*h));
                }
            }
        }
        self.backfill =
            (pending.history.leaf_count() > self.history.leaf_count()).then_some(pending);
        Ok(self.history.leaf_count())
    }

    /// Drops unconfirmed back-fill headers (e.g. when switching to another full node).
    pub fn discard_backfill(&mut self) {
        self.backfill = None;
    }

    /// The next height back-fill needs, if the accumulator lags the tip; and the height of the
    /// verified header it will link up with.
    pub fn backfill_needed(&self) -> Option<(u64, u64)> {
        let next = self
            .backfill
            .as_ref()
            .map_or(self.history.leaf_count(), |b| b.history.leaf_count());
        let anchor = self.ring.first_at_or_above(next)?;
        Some((next, anchor.height()))
    }

    /// Proves an old header through the accumulator (or finds it in the ring). The result is
    /// not stored: use it for the proof at hand.
    pub fn verify_old_header(
        &self,
        header: &BlockHeader,
        proof: &MmrProof,
    ) -> Result<VerifiedHeader, SpvError> {
        if let Some(known) = self.ring.get(header.height) {
            if known.header() == header {
                return Ok(*known);
            }
        }
        if proof.leaf_index != header.height {
            return Err(SpvError::HeaderNotTrusted {
                height: header.height,
            });
        }
        let verified = VerifiedHeader::new(*header);
        self.history
            .verify(proof, &header_leaf(header.height, &verified.hash()))?;
        Ok(verified)
    }
}
