//! The integrator the PBFT crate asks for: the event loop (timers and message delivery in time
//! order), carrying out each replica's actions, executing committed blocks with the ledger, and
//! feeding the full node.

use itc_crypto::{Encode, Hash};
use itc_pbft::{Action, CertifiedBlock, Executed, Message};
use itc_spv::server::{BatchRequest, CommittedBlock};

use super::{Chain, Envelope};

impl Chain {
    // ---------------------------------------------------------------- event loop

    pub(super) fn next_event(&self) -> Option<u64> {
        let timers = self
            .nodes
            .iter()
            .flat_map(|n| n.timers.values().copied())
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
            let due = self.nodes.get_mut(i).is_some_and(|n| {
                let before = n.timers.len();
                n.timers.retain(|_, d| *d > now);
                n.timers.len() != before
            });
            if due {
                if let Some(n) = self.nodes.get_mut(i) {
                    let _ = n.replica.handle_tick(now);
                }
                self.process_actions(i);
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
        let Some(node) = self.nodes.get_mut(to) else {
            return;
        };
        match env {
            Envelope::Pbft(m) => {
                if node.replica.handle_message(*m, now).is_err() {
                    node.refused += 1;
                }
            }
            Envelope::Corrupt(bytes) => {
                if node.replica.handle_message_bytes(&bytes, now).is_err() {
                    node.refused += 1;
                    if !node.byzantine {
                        self.stats.corrupt_refused += 1;
                    }
                }
            }
            Envelope::Request(r) => {
                let _ = node.replica.handle_request(r, now);
            }
            Envelope::Fetch { from: lo, to: hi } => {
                let blocks: Vec<CertifiedBlock> =
                    node.blocks.range(lo..=hi).map(|(_, b)| b.clone()).collect();
                let bytes = blocks.iter().map(Encode::encoded_len).sum();
                self.net
                    .send(to, from, Envelope::Blocks(blocks), now, bytes, true);
                return;
            }
            Envelope::Blocks(blocks) => {
                for b in blocks {
                    if node.replica.handle_fetched_block(b, now).is_err() {
                        node.refused += 1;
                    }
                }
            }
            Envelope::Reply { .. } => return,
        }
        self.process_actions(to);
    }

    pub(super) fn process_actions(&mut self, i: usize) {
        loop {
            let actions: Vec<Action> = match self.nodes.get_mut(i) {
                Some(n) => n.replica.drain_actions().collect(),
                None => return,
            };
            if actions.is_empty() {
                return;
            }
            for a in actions {
                self.carry_out(i, a);
            }
        }
    }

    pub(super) fn send_pbft(&mut self, from: usize, to: usize, m: Message) {
        let bytes = m.encoded_len();
        self.stats.messages += 1;
        self.stats.message_bytes += bytes as u64;
        self.net
            .send(from, to, Envelope::Pbft(Box::new(m)), self.now, bytes, true);
    }

    pub(super) fn is_byzantine(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.byzantine)
    }

    pub(super) fn carry_out(&mut self, i: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Persist(fact) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.record.apply(&fact);
                }
            }
            Action::Send { to, message } => {
                if let Some(j) = self.set.index_of(&to) {
                    self.send_pbft(i, j, message);
                }
            }
            Action::Broadcast(message) => {
                if self.is_byzantine(i) {
                    self.byzantine_broadcast(i, message);
                } else {
                    for j in (0..self.nodes.len()).filter(|j| *j != i) {
                        self.send_pbft(i, j, message.clone());
                    }
                }
            }
            Action::Commit(block) => self.execute_block(i, block),
            Action::Reply {
                client,
                request_id,
                height,
            } => {
                let lie = self.is_byzantine(i);
                if lie {
                    self.stats.lies_sent += 1;
                }
                let height = if lie {
                    height.saturating_add(1000)
                } else {
                    height
                };
                let ep = self.client_endpoint(client.0);
                self.net.send(
                    i,
                    ep,
                    Envelope::Reply {
                        replica: i,
                        request_id,
                        height,
                    },
                    now,
                    24,
                    false,
                );
            }
            Action::Evidence(e) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.evidence.push(e);
                }
            }
            Action::Fetch { peer, from, to } => {
                if let Some(j) = self.set.index_of(&peer) {
                    self.net
                        .send(i, j, Envelope::Fetch { from, to }, now, 16, true);
                }
            }
            Action::SetTimer { timer, deadline } => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.timers.insert(timer, deadline);
                }
            }
            Action::CancelTimer(timer) => {
                if let Some(n) = self.nodes.get_mut(i) {
                    n.timers.remove(&timer);
                }
            }
        }
    }

    /// Executes a committed block with the node's ledger, feeds the full node (observer only)
    /// and reports the new state root to the replica.
    pub(super) fn execute_block(&mut self, i: usize, block: CertifiedBlock) {
        let observer = i == self.observer;
        let Some(n) = self.nodes.get_mut(i) else {
            return;
        };
        let h = block.header.height;
        let payloads: Vec<&[u8]> = block
            .batch
            .requests()
            .iter()
            .map(|r| r.payload.as_slice())
            .collect();
        let root = match n.ledger.execute(&payloads, h) {
            Ok(outcome) => outcome.state_root,
            Err(_) => {
                self.stats.batch_errors += 1;
                n.ledger.root()
            }
        };
        n.headers.insert(h, block.header.hash());
        n.roots.insert(h, root);
        let _ = n.replica.handle_executed(Executed::new(h, root));
        n.blocks.insert(h, block.clone());
        if observer {
            self.feed_full_node(block, root);
        }
    }

    /// The full node: re-executes the block an honest validator committed, stores it with its
    /// certificate and keeps the resulting state for proofs.
    pub(super) fn feed_full_node(&mut self, block: CertifiedBlock, validator_root: Hash) {
        let h = block.header.height;
        let payloads: Vec<&[u8]> = block
            .batch
            .requests()
            .iter()
            .map(|r| r.payload.as_slice())
            .collect();
        match self.full_node.execute(&payloads, h) {
            Ok(outcome) => {
                for r in &outcome.receipts {
                    self.receipts.insert(r.tx_id, (h, r.result));
                }
                if outcome.state_root != validator_root {
                    self.stats.store_errors += 1;
                }
            }
            Err(_) => self.stats.batch_errors += 1,
        }
        let committed = CommittedBlock {
            header: block.header,
            certificate: Some(block.certificate),
            batch: block
                .batch
                .requests()
                .iter()
                .map(|r| BatchRequest {
                    client: r.client.0,
                    request_id: r.id,
                    payload: r.payload.clone(),
                })
                .collect(),
            next_validators: None,
        };
        let store = self.server.store_mut();
        if store.push_block(committed).is_err() {
            self.stats.store_errors += 1;
        }
        store.add_ledger(&self.full_node);
    }
}
