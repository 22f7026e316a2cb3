//! The Byzantine validator: equivocating proposals, conflicting votes (one peer always gets
//! both, so it can prove them), corrupted bytes; and the evidence the honest ones gather.

use std::collections::BTreeSet;

use itc_crypto::{Encode, Hash, Signer};
use itc_pbft::message::{vote_digest, Phase, PrePrepare, Vote};
use itc_pbft::{Batch, ClientId, Message, Request};
use rand_core::RngCore;

use super::{Chain, Envelope};

impl Chain {
    // ---------------------------------------------------------------- the Byzantine validator

    pub(super) fn sign_vote(
        &self,
        i: usize,
        phase: Phase,
        view: u64,
        height: u64,
        hash: &Hash,
    ) -> Option<itc_crypto::Signature> {
        let key = self.keys.get(i)?;
        key.sign_digest(&vote_digest(phase, view, height, hash))
            .ok()
    }

    pub(super) fn byzantine_broadcast(&mut self, i: usize, message: Message) {
        let peers: Vec<usize> = self.peers_of(i);
        // Now and then, a corrupted copy of what it sends: one byte flipped.
        if self.rng.next_u32() % 3 == 0 {
            let mut bytes = message.encode_to_vec();
            let len = bytes.len().max(1);
            let pos = (self.rng.next_u32() as usize) % len;
            if let Some(b) = bytes.get_mut(pos) {
                *b ^= 1 << (self.rng.next_u32() % 8);
            }
            if let Some(&to) = peers.get((self.rng.next_u32() as usize) % peers.len().max(1)) {
                self.stats.corrupt_sent += 1;
                let n = bytes.len();
                self.net
                    .send(i, to, Envelope::Corrupt(bytes), self.now, n, true);
            }
        }
        match message {
            Message::PrePrepare { pre_prepare, batch } => {
                // Equivocation: a second batch for the same slot (the requests reversed plus
                // one of its own), signed as primary; odd peers get it.
                let mut requests: Vec<Request> = batch.requests().to_vec();
                requests.reverse();
                requests.push(Request::new(
                    ClientId(u64::MAX),
                    self.now,
                    b"byzantine".to_vec(),
                ));
                let batch2 = Batch::new(requests);
                let mut header2 = pre_prepare.header;
                header2.batch_root = batch2.root();
                let Some(signature) = self.sign_vote(
                    i,
                    Phase::PrePrepare,
                    pre_prepare.view,
                    header2.height,
                    &header2.hash(),
                ) else {
                    return;
                };
                let pp2 = PrePrepare {
                    view: pre_prepare.view,
                    header: header2,
                    signature,
                };
                self.stats.equivocations_sent += 1;
                for (k, to) in peers.into_iter().enumerate() {
                    let m = if k % 2 == 0 {
                        Message::PrePrepare {
                            pre_prepare,
                            batch: batch.clone(),
                        }
                    } else {
                        Message::PrePrepare {
                            pre_prepare: pp2,
                            batch: batch2.clone(),
                        }
                    };
                    self.send_pbft(i, to, m);
                }
            }
            Message::Prepare(v) => self.conflicting_votes(i, &peers, v, Phase::Prepare),
            Message::Commit(v) => self.conflicting_votes(i, &peers, v, Phase::Commit),
            other => {
                for to in peers {
                    self.send_pbft(i, to, other.clone());
                }
            }
        }
    }

    pub(super) fn conflicting_votes(&mut self, i: usize, peers: &[usize], v: Vote, phase: Phase) {
        let mut fake = [0u8; 32];
        self.rng.fill_bytes(&mut fake);
        let fake_hash = Hash(fake);
        let Some(signature) = self.sign_vote(i, phase, v.view, v.height, &fake_hash) else {
            return;
        };
        let fake = Vote {
            header_hash: fake_hash,
            signature,
            ..v
        };
        let wrap = |x: Vote| match phase {
            Phase::Commit => Message::Commit(x),
            _ => Message::Prepare(x),
        };
        self.stats.equivocations_sent += 1;
        // The first peer gets both votes (and can prove the equivocation); the others one each.
        for (k, to) in peers.iter().copied().enumerate() {
            if k == 0 {
                self.send_pbft(i, to, wrap(v));
                self.send_pbft(i, to, wrap(fake));
            } else if k % 2 == 0 {
                self.send_pbft(i, to, wrap(v));
            } else {
                self.send_pbft(i, to, wrap(fake));
            }
        }
    }

    /// Evidence the honest validators gathered, verified against the set it names a signer
    /// of, as the distinct accused validator nodes.
    pub fn verified_evidence(&self) -> BTreeSet<usize> {
        self.honest()
            .flat_map(|n| n.evidence.iter())
            .filter_map(|e| self.sets.iter().find_map(|set| e.verify(set).ok()))
            .filter_map(|key| self.index_of(&key))
            .collect()
    }
}
