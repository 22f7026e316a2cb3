//! Catch-up: a replica that learns it is behind — a stable checkpoint or a commit quorum above
//! what it has — asks one peer for the certified blocks it misses ([`Action::Fetch`]), and
//! accepts a fetched block only if it is the next height, extends its chain, carries a commit
//! certificate that verifies against the validator set of that height, and its batch matches
//! the header. A peer that does not answer is replaced by the next one when the fetch timer
//! fires. Ranges are bounded by the window, so catch-up never asks for more than it can hold.

use itc_crypto::Signer;

use crate::action::{Action, Timer};
use crate::certificate::{commit_digest, CertificateError};
use crate::error::PbftError;
use crate::header::{BlockHeader, ChainError};
use crate::message::{verify_quorum, CertifiedBlock};
use crate::replica::{FetchState, Replica};

impl<S: Signer> Replica<S> {
    /// Asks for the certified blocks from the next height up to `to` (bounded by the window).
    pub(crate) fn request_fetch(&mut self, to: u64) {
        let from = self.last_header.height.saturating_add(1);
        if to < from {
            return;
        }
        // Never more than a window at once, and never past two windows above the stable
        // checkpoint: what we deliver must stay within what a checkpoint can later collect.
        let to = to
            .min(from.saturating_add(self.config.window).saturating_sub(1))
            .min(self.high().saturating_add(self.config.window));
        if self.fetch.is_some_and(|f| f.to >= to) {
            return;
        }
        let attempts = self.fetch.map_or(0, |f| f.attempts);
        self.fetch = Some(FetchState { to, attempts });
        self.send_fetch();
    }

    /// Asks the next peer for whatever blocks it has past ours, once (no retry): used when a
    /// replica cannot tell whether it is behind.
    pub(crate) fn probe_fetch(&mut self) {
        if self.fetch.is_some() {
            return;
        }
        let to = self
            .last_header
            .height
            .saturating_add(self.config.window)
            .min(self.high().saturating_add(self.config.window));
        if to <= self.last_header.height {
            return;
        }
        self.probes = self.probes.wrapping_add(1);
        self.send_fetch_to(to, self.probes);
    }

    fn send_fetch(&mut self) {
        let Some(f) = self.fetch else {
            return;
        };
        self.send_fetch_to(f.to, f.attempts);
        let d = self.now.saturating_add(self.config.fetch_timeout_ms);
        self.set_timer(Timer::Fetch, d);
    }

    fn send_fetch_to(&mut self, to: u64, attempts: u32) {
        let from = self.last_header.height.saturating_add(1);
        let Some(e) = self.epoch_for(from).or_else(|| self.epochs.latest()) else {
            return;
        };
        let n = e.set.len();
        let me = e.set.index_of(&self.key);
        // Rotate through the other validators, one per attempt.
        let start = me.map_or(0, |m| m.saturating_add(1));
        let mut peer = None;
        for k in 0..n {
            let idx = (start + attempts as usize + k) % n.max(1);
            if Some(idx) != me {
                peer = e.set.get(idx).map(|v| v.key);
                break;
            }
        }
        let Some(peer) = peer else {
            return;
        };
        self.push(Action::Fetch { peer, from, to });
    }

    pub(crate) fn on_fetch_timeout(&mut self) {
        let Some(f) = self.fetch else {
            return;
        };
        if self.last_header.height >= f.to {
            self.fetch = None;
            return;
        }
        self.fetch = Some(FetchState {
            to: f.to,
            attempts: f.attempts.saturating_add(1),
        });
        self.send_fetch();
    }

    /// Feeds a block received in answer to an [`Action::Fetch`]. Blocks must come in height
    /// order; each is checked (chain, certificate, batch) before it is delivered.
    pub fn handle_fetched_block(
        &mut self,
        block: CertifiedBlock,
        now: u64,
    ) -> Result<(), PbftError> {
        self.now = self.now.max(now);
        let h = block.header.height;
        let expected = self.last_header.height.saturating_add(1);
        if h < expected {
            return Err(PbftError::AlreadyCommitted(h));
        }
        if h != expected {
            return Err(PbftError::NotNextBlock { expected, got: h });
        }
        let ku = self.known_until();
        let Some(e) = self.epochs.get(h, ku) else {
            return Err(PbftError::UnknownValidatorSet(h));
        };
        block.header.extends(&self.last_header, &self.last_hash)?;
        let k = self.config.checkpoint_interval;
        if block.header.next_validator_set_hash != block.header.validator_set_hash
            && !BlockHeader::is_epoch_boundary(h, k)
        {
            return Err(ChainError::SetChangeOffBoundary { height: h }.into());
        }
        if block.header.validator_set_hash != e.hash {
            return Err(ChainError::WrongValidatorSet.into());
        }
        if block.certificate.view() < block.header.view {
            return Err(CertificateError::ViewBeforeProposal {
                cert_view: block.certificate.view(),
                header_view: block.header.view,
            }
            .into());
        }
        // The certificate's quorum, checked as one batch (see `message::verify_quorum`).
        let hash = block.header.hash();
        let digest = commit_digest(block.certificate.view(), h, &hash);
        verify_quorum(
            block.certificate.votes(),
            &e.set,
            &digest,
            0,
            &mut self.stats,
        )?;
        if block.batch.root() != block.header.batch_root {
            return Err(PbftError::FetchedBatchMismatch);
        }
        self.deliver_block(block, hash);
        self.deliver()?;
        let next = self.last_header.height.saturating_add(1);
        self.try_accept(next)?;
        self.check_progress(next)
    }
}
