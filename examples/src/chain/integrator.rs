//! The integrator around `itc_chain::Validator`: the simulated network and clock only. Every
//! decision (PBFT, execution in the ledger, the hand-over, co-signing, catch-up) is the
//! validator's; this loop feeds it inputs, commits each step's writes to the node's store
//! before anything of the step is sent, and routes what comes out — the loop `itc-node` runs
//! over real sockets and redb.

use itc_chain::{PeerMessage, Ready, Recipient, Store, Validator};
use itc_crypto::{Encode, SecretKey};
use itc_pbft::CertifiedBlock;

use super::{Chain, Envelope};

impl Chain {
    // ---------------------------------------------------------------- event loop

    pub(super) fn next_event(&self) -> Option<u64> {
        let timers = self
            .nodes
            .iter()
            .filter_map(|n| n.validator.poll_timeout())
            .min();
        match (self.net.next_time(), timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Processes events in time order until `done` holds (true) or nothing is left before
    /// `limit` (false).
    pub(super) fn run_until(&mut self, limit: u64, done: impl Fn(&Chain) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let Some(t) = self.next_event() else {
                return false;
            };
            if t > limit {
                return false;
            }
            self.now = self.now.max(t);
            self.fire_timers();
            while let Some((from, to, env)) = self.net.pop_due(self.now) {
                self.deliver(from, to, env);
            }
        }
    }

    pub(super) fn fire_timers(&mut self) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            let due = self
                .nodes
                .get(i)
                .and_then(|n| n.validator.poll_timeout())
                .is_some_and(|t| t <= now);
            if due {
                if let Some(n) = self.nodes.get_mut(i) {
                    let ready = n.validator.handle_timeout(now);
                    self.finish(i, ready);
                }
            }
        }
    }

    pub(super) fn deliver(&mut self, from: usize, to: usize, env: Envelope) {
        let now = self.now;
        let n = self.nodes.len();
        if to >= n {
            if let Envelope::Reply {
                replica,
                request_id,
                height,
            } = env
            {
                self.on_reply((to - n) as u64, replica, request_id, height);
            }
            return;
        }
        let from_key = self.keys.get(from).map(SecretKey::public_key);
        let Some(node) = self.nodes.get_mut(to) else {
            return;
        };
        let ready = match env {
            Envelope::Peer(m) => {
                let Some(key) = from_key else { return };
                let mut policy = node.approvals.clone();
                if node
                    .validator
                    .handle_peer_message(key, *m, &mut policy, now)
                    .is_err()
                {
                    node.refused += 1;
                }
                node.validator.take_ready()
            }
            Envelope::Corrupt(bytes) => {
                let Some(key) = from_key else { return };
                let mut policy = node.approvals.clone();
                let ready = node
                    .validator
                    .handle_peer_bytes(key, &bytes, &mut policy, now);
                if !ready.refused.is_empty() {
                    node.refused += 1;
                    if !node.byzantine {
                        self.stats.corrupt_refused += 1;
                    }
                }
                ready
            }
            Envelope::Request(r) => {
                let _ = node.validator.submit_request(r, now);
                node.validator.take_ready()
            }
            Envelope::Fetch { from: lo, to: hi } => {
                let Ok(blocks) = Validator::<SecretKey>::serve_fetch(&node.store, lo, hi);
                if !blocks.is_empty() {
                    let bytes = blocks.iter().map(Encode::encoded_len).sum();
                    self.net
                        .send(to, from, Envelope::Blocks(blocks), now, bytes, true);
                }
                return;
            }
            Envelope::Blocks(blocks) => {
                for b in blocks {
                    if node.validator.handle_fetched_block(b, now).is_err() {
                        node.refused += 1;
                    }
                }
                node.validator.take_ready()
            }
            Envelope::Reply { .. } => return,
        };
        self.finish(to, ready);
    }

    /// One step's output: writes durable first (the node's store), then everything else.
    pub(super) fn finish(&mut self, i: usize, ready: Ready) {
        let Ready {
            writes,
            messages,
            replies,
            fetches,
            certified,
            committed,
            evidence,
            refused,
        } = ready;
        let observer = i == self.observer;
        let blocks: Vec<CertifiedBlock> = if observer {
            writes.blocks().to_vec()
        } else {
            Vec::new()
        };
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        if n.store.commit(writes).is_err() {
            self.stats.store_errors += 1;
        }
        n.refused += refused.len() as u64;
        n.evidence.extend(evidence);
        for c in &committed {
            n.headers.insert(c.height, c.header_hash);
            n.roots.insert(c.height, c.state_root);
        }
        self.certified.extend(certified);
        for block in blocks {
            let h = block.header.height;
            let root = committed
                .iter()
                .find(|c| c.height == h)
                .map(|c| c.state_root);
            if let Some(root) = root {
                self.feed_full_node(block, root);
            }
        }
        for out in messages {
            match (out.to, out.message) {
                (Recipient::Validators, PeerMessage::Consensus(m)) if self.is_byzantine(i) => {
                    self.byzantine_broadcast(i, m);
                }
                (Recipient::Validators, m) => {
                    for j in self.peers_of(i) {
                        self.send_peer(i, j, m.clone());
                    }
                }
                (Recipient::One(key), m) => {
                    if let Some(j) = self.index_of(&key) {
                        self.send_peer(i, j, m);
                    }
                }
            }
        }
        for f in fetches {
            if let Some(j) = self.index_of(&f.peer) {
                self.net.send(
                    i,
                    j,
                    Envelope::Fetch {
                        from: f.from,
                        to: f.to,
                    },
                    self.now,
                    16,
                    true,
                );
            }
        }
        for r in replies {
            let lie = self.is_byzantine(i);
            if lie {
                self.stats.lies_sent += 1;
            }
            let height = if lie {
                r.height.saturating_add(1000)
            } else {
                r.height
            };
            let ep = self.client_endpoint(r.client.0);
            self.net.send(
                i,
                ep,
                Envelope::Reply {
                    replica: i,
                    request_id: r.request_id,
                    height,
                },
                self.now,
                24,
                false,
            );
        }
    }

    /// The other validators of the set node `i` is working in (a node outside it gets no
    /// consensus traffic, as `itc-node` gives none to a peer whose key is not in the set; it
    /// follows by fetching blocks).
    pub(super) fn peers_of(&self, i: usize) -> Vec<usize> {
        let Some(v) = self.nodes.get(i).map(|n| &n.validator) else {
            return Vec::new();
        };
        let set = v.replica().validators().unwrap_or(v.validators());
        set.validators()
            .iter()
            .filter_map(|m| self.index_of(&m.key))
            .filter(|j| *j != i)
            .collect()
    }

    pub(super) fn index_of(&self, key: &itc_crypto::PublicKey) -> Option<usize> {
        self.keys.iter().position(|k| k.public_key() == *key)
    }

    pub(super) fn send_pbft(&mut self, from: usize, to: usize, m: itc_pbft::Message) {
        self.send_peer(from, to, PeerMessage::Consensus(m));
    }

    fn send_peer(&mut self, from: usize, to: usize, m: PeerMessage) {
        let bytes = m.encoded_len();
        if matches!(m, PeerMessage::Consensus(_)) {
            self.stats.messages += 1;
            self.stats.message_bytes += bytes as u64;
        }
        // Co-signing messages ride a reliable stream (the co-signer does not retransmit).
        let lossy = matches!(m, PeerMessage::Consensus(_));
        self.net.send(
            from,
            to,
            Envelope::Peer(Box::new(m)),
            self.now,
            bytes,
            lossy,
        );
    }

    pub(super) fn is_byzantine(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.byzantine)
    }

    /// The full node: verifies the block's certificate, executes it and keeps what it serves;
    /// its state root must be the one the validator computed.
    pub(super) fn feed_full_node(
        &mut self,
        block: CertifiedBlock,
        validator_root: itc_crypto::Hash,
    ) {
        let h = block.header.height;
        match self.server.handle_block(block) {
            Ok(accepted) => {
                for r in &accepted.outcome.receipts {
                    self.receipts.insert(r.tx_id, (h, r.result));
                }
                if accepted.outcome.state_root != validator_root {
                    self.stats.store_errors += 1;
                }
            }
            Err(_) => self.stats.store_errors += 1,
        }
    }
}
