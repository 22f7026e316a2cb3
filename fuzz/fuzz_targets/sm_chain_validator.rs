//! Four `itc_chain::Validator`s (replica + ledger + co-signer behind one driver) under a
//! fuzzer-chosen schedule: honest peer messages delivered, dropped, duplicated or mutated,
//! arbitrary bytes injected as peer messages and as client transactions, valid transfers
//! submitted, time advanced, and crash-restarts from each validator's `MemoryStore` (the
//! integrator's contract: a step's `writes` are committed before its messages are queued).
//! Signatures are forgeable in fuzz builds, so injected bytes can speak for any validator.
//!
//! Invariants: no panic; no two validators commit different headers at a height; a restored
//! validator resumes at least at its committed tip, with the same header there; what a step
//! hands out stays bounded.
#![no_main]
use std::collections::{BTreeMap, VecDeque};

use arbitrary::Arbitrary;
use itc_chain::cosign::Approvals;
use itc_chain::{
    BlockStore, MemoryStore, Ready, Recipient, Store, Validator, ValidatorConfig,
};
use itc_crypto::quorum::{Validator as Member, ValidatorSet};
use itc_crypto::{Address, Encode, Hash, SecretKey};
use itc_ledger::builder::TxBuilder;
use itc_ledger::GenesisState;
use itc_pbft::{CertifiedBlock, Config as PbftConfig};
use libfuzzer_sys::fuzz_target;

const N: usize = 4;
const CHAIN_ID: u32 = 0x17c;
const MAX_QUEUE: usize = 2048;
const USERS: usize = 4;

#[derive(Arbitrary, Debug)]
enum Op {
    Deliver(u16),
    Drop(u16),
    Duplicate(u16),
    /// Re-inject a queued message with one byte changed.
    Mutate { index: u16, at: u16, xor: u8 },
    /// Arbitrary bytes "from" validator `from` to validator `to`.
    Inject { from: u8, to: u8, bytes: Vec<u8> },
    /// Arbitrary bytes as a client transaction.
    SubmitBytes { to: u8, bytes: Vec<u8> },
    /// A valid transfer from user `user` (nonce chosen by the fuzzer).
    Transfer { user: u8, nonce: u8, amount: u8 },
    Tick { advance_ms: u16 },
    Restart(u8),
    DeliverAll,
}

enum Envelope {
    Peer { from: usize, bytes: Vec<u8> },
    Fetch { from: usize, lo: u64, hi: u64 },
    Blocks(Vec<CertifiedBlock>),
}

struct Host {
    key: SecretKey,
    validator: Validator<SecretKey>,
    store: MemoryStore,
}

struct Net {
    config: ValidatorConfig,
    genesis: GenesisState,
    users: &'static [SecretKey],
    hosts: Vec<Host>,
    queue: VecDeque<(usize, Envelope)>,
    committed: BTreeMap<u64, Hash>,
    now: u64,
}

fn address(k: &SecretKey) -> Address {
    Address::from_public_key(&k.public_key())
}

impl Net {
    fn new() -> Option<Self> {
        static KEYS: std::sync::OnceLock<Vec<SecretKey>> = std::sync::OnceLock::new();
        let keys = itc_fuzz::cached_keys(&KEYS, || {
            (0..N + USERS)
                .filter_map(|i| SecretKey::from_bytes(&[i as u8 + 1; 32]).ok())
                .collect()
        });
        let (validators, users) = keys.split_at(N.min(keys.len()));
        let set = ValidatorSet::new(validators.iter().map(|k| Member {
            key: k.public_key(),
            power: 1,
        }))
        .ok()?;
        let genesis = GenesisState {
            chain_id: CHAIN_ID,
            validators: set,
            balances: users.iter().map(|u| (address(u), 1_000)).collect(),
            vendors: Vec::new(),
        };
        let pbft = PbftConfig {
            checkpoint_interval: 4,
            batch_delay_ms: 0,
            view_change_timeout_ms: 200,
            max_view_change_timeout_ms: 1_600,
            fetch_timeout_ms: 100,
            ..PbftConfig::default()
        };
        let config = ValidatorConfig::new(CHAIN_ID).with_pbft(pbft);
        let mut hosts = Vec::with_capacity(N);
        for k in validators {
            let (validator, ready) = Validator::new(config, k.clone(), &genesis, 0).ok()?;
            let mut store = MemoryStore::new();
            store.commit(ready.writes).ok()?;
            hosts.push(Host {
                key: k.clone(),
                validator,
                store,
            });
        }
        Some(Net {
            config,
            genesis,
            users,
            hosts,
            queue: VecDeque::new(),
            committed: BTreeMap::new(),
            now: 0,
        })
    }

    fn index_of(&self, key: &itc_crypto::PublicKey) -> Option<usize> {
        self.hosts.iter().position(|h| h.key.public_key() == *key)
    }

    fn push(&mut self, to: usize, e: Envelope) {
        if self.queue.len() < MAX_QUEUE {
            self.queue.push_back((to, e));
        }
    }

    /// The integrator's contract: writes durable first, then everything else.
    fn finish(&mut self, i: usize, ready: Ready) {
        itc_fuzz::assert_bounded("messages", ready.messages.len(), 4096);
        itc_fuzz::assert_bounded("fetches", ready.fetches.len(), 64);
        let Ready {
            writes,
            messages,
            fetches,
            committed,
            ..
        } = ready;
        if self.hosts[i].store.commit(writes).is_err() {
            return;
        }
        for c in &committed {
            let prior = self.committed.insert(c.height, c.header_hash);
            assert!(
                prior.is_none_or(|p| p == c.header_hash),
                "two headers committed at height {}",
                c.height
            );
        }
        for out in messages {
            let bytes = out.message.encode_to_vec();
            let targets: Vec<usize> = match out.to {
                Recipient::One(k) => self.index_of(&k).into_iter().collect(),
                Recipient::Validators => (0..N).filter(|j| *j != i).collect(),
            };
            for j in targets {
                self.push(
                    j,
                    Envelope::Peer {
                        from: i,
                        bytes: bytes.clone(),
                    },
                );
            }
        }
        for f in fetches {
            if let Some(j) = self.index_of(&f.peer) {
                self.push(
                    j,
                    Envelope::Fetch {
                        from: i,
                        lo: f.from,
                        hi: f.to,
                    },
                );
            }
        }
    }

    fn peer_bytes(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let now = self.now;
        let key = self.hosts[from].key.public_key();
        let mut policy = Approvals::new();
        let ready = self.hosts[to]
            .validator
            .handle_peer_bytes(key, bytes, &mut policy, now);
        self.finish(to, ready);
    }

    fn deliver(&mut self, k: usize) {
        let Some((to, e)) = self.queue.remove(k) else {
            return;
        };
        let now = self.now;
        match e {
            Envelope::Peer { from, bytes } => self.peer_bytes(from, to, &bytes),
            Envelope::Fetch { from, lo, hi } => {
                let Ok(blocks) = Validator::<SecretKey>::serve_fetch(&self.hosts[to].store, lo, hi);
                if !blocks.is_empty() {
                    self.push(from, Envelope::Blocks(blocks));
                }
            }
            Envelope::Blocks(blocks) => {
                let v = &mut self.hosts[to].validator;
                for b in blocks {
                    if v.handle_fetched_block(b, now).is_err() {
                        break;
                    }
                }
                let ready = v.take_ready();
                self.finish(to, ready);
            }
        }
    }

    fn restart(&mut self, i: usize) {
        let h = &self.hosts[i];
        let (height, hash) = (h.validator.height(), h.validator.node().tip_hash());
        let Ok(v) = Validator::restore(self.config, h.key.clone(), &self.genesis, &h.store, self.now)
        else {
            panic!("a validator's own store does not restore");
        };
        assert!(v.height() >= height, "restore lost committed blocks");
        let stored = h.store.header(height).ok().flatten().map(|x| x.hash());
        assert_eq!(stored, Some(hash), "the committed tip changed across a restart");
        self.hosts[i].validator = v;
        let ready = self.hosts[i].validator.take_ready();
        self.finish(i, ready);
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let Some(mut net) = Net::new() else { return };
    let builder = TxBuilder::new(CHAIN_ID);
    for op in ops.into_iter().take(256) {
        let qlen = net.queue.len().max(1);
        match op {
            Op::Deliver(k) => net.deliver(usize::from(k) % qlen),
            Op::Drop(k) => {
                let _ = net.queue.remove(usize::from(k) % qlen);
            }
            Op::Duplicate(k) => {
                if let Some((to, Envelope::Peer { from, bytes })) =
                    net.queue.get(usize::from(k) % qlen)
                {
                    let (to, from, bytes) = (*to, *from, bytes.clone());
                    net.push(to, Envelope::Peer { from, bytes });
                }
            }
            Op::Mutate { index, at, xor } => {
                if let Some((to, Envelope::Peer { from, bytes })) =
                    net.queue.get(usize::from(index) % qlen)
                {
                    let (to, from, mut bytes) = (*to, *from, bytes.clone());
                    let len = bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(usize::from(at) % len) {
                        *b ^= xor;
                    }
                    net.peer_bytes(from, to, &bytes);
                }
            }
            Op::Inject { from, to, bytes } => {
                net.peer_bytes(usize::from(from) % N, usize::from(to) % N, &bytes);
            }
            Op::SubmitBytes { to, bytes } => {
                let i = usize::from(to) % N;
                let now = net.now;
                let v = &mut net.hosts[i].validator;
                let _ = v.submit_transaction(&bytes, now);
                let ready = v.take_ready();
                net.finish(i, ready);
            }
            Op::Transfer {
                user,
                nonce,
                amount,
            } => {
                let Some(u) = net.users.get(usize::from(user) % USERS) else {
                    continue;
                };
                let Ok(tx) = builder.transfer(u, u64::from(nonce % 8), address(u), u64::from(amount))
                else {
                    continue;
                };
                let bytes = tx.encode_to_vec();
                let now = net.now;
                for i in 0..N {
                    let v = &mut net.hosts[i].validator;
                    let _ = v.submit_transaction(&bytes, now);
                    let ready = v.take_ready();
                    net.finish(i, ready);
                }
            }
            Op::Tick { advance_ms } => {
                net.now = net.now.saturating_add(u64::from(advance_ms));
                let now = net.now;
                for i in 0..N {
                    let due = net.hosts[i]
                        .validator
                        .poll_timeout()
                        .is_some_and(|d| d <= now);
                    if due {
                        let ready = net.hosts[i].validator.handle_timeout(now);
                        net.finish(i, ready);
                    }
                }
            }
            Op::Restart(i) => net.restart(usize::from(i) % N),
            Op::DeliverAll => {
                for _ in 0..512 {
                    if net.queue.is_empty() {
                        break;
                    }
                    net.deliver(0);
                }
            }
        }
    }
});
