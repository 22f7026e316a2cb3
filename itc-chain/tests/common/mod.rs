//! Shared fixture: funded users, a certified test chain, a full node with its store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use itc_chain::testkit::TestChain;
use itc_chain::{FullNode, FullNodeConfig, MemoryStore, Store};
use itc_crypto::{Address, Encode, SecretKey};
use itc_spv::{Config, LightClient, Request, Response, TrustAnchor};

pub const USERS: usize = 6;
pub const FUNDS: u64 = 10_000;

pub fn user(i: usize) -> SecretKey {
    let mut b = [0x42u8; 32];
    b[31] = i as u8 + 1;
    SecretKey::from_bytes(&b).unwrap()
}

pub fn user_addr(i: usize) -> Address {
    Address::from_public_key(&user(i).public_key())
}

pub struct World {
    pub chain: TestChain,
    pub node: FullNode,
    pub store: MemoryStore,
    pub nonces: Vec<u64>,
}

impl World {
    pub fn new(validators: usize, interval: u64, config: FullNodeConfig) -> Self {
        let balances: Vec<(Address, u64)> = (0..USERS).map(|i| (user_addr(i), FUNDS)).collect();
        let chain = TestChain::new(validators, interval, &balances);
        let (node, writes) =
            FullNode::new(config, chain.genesis_state(), chain.genesis_time_ms()).unwrap();
        let mut store = MemoryStore::new();
        store.commit(writes).unwrap();
        World {
            chain,
            node,
            store,
            nonces: vec![0; USERS],
        }
    }

    /// A transfer from user `from` to user `to` (next nonce).
    pub fn transfer(&mut self, from: usize, to: usize, amount: u64) -> Vec<u8> {
        let n = self.nonces[from];
        self.nonces[from] += 1;
        self.chain
            .builder()
            .transfer(&user(from), n, user_addr(to), amount)
            .unwrap()
            .encode_to_vec()
    }

    /// Builds the next block over `txs`, feeds it to the node and commits its writes.
    pub fn step(&mut self, txs: Vec<Vec<u8>>) -> itc_chain::Accepted {
        let block = self.chain.next_block(txs);
        let accepted = self.node.handle_block(block).unwrap();
        self.store.commit(accepted.writes.clone()).unwrap();
        accepted
    }

    pub fn answer(&self, request: &Request) -> Response<8> {
        self.node.answer::<8, _>(&self.store, request).unwrap()
    }

    /// A light client anchored at genesis, synced to the node's tip through the node.
    pub fn synced_client(&self) -> LightClient<16, 8> {
        let set = self
            .chain
            .genesis_state()
            .validators
            .with_capacity::<8>()
            .unwrap();
        let anchor = TrustAnchor::genesis(*self.node.genesis(), set);
        let now = self.now_ms();
        let mut client: LightClient<16, 8> =
            LightClient::new(anchor, Config::new(self.chain.handover().interval()), now).unwrap();
        client.sync_to(self.node.tip().height);
        let mut rounds = 0;
        while let Some(request) = client.poll_request() {
            rounds += 1;
            assert!(rounds < 10_000, "sync does not converge");
            client
                .handle_response(&self.answer(&request), now)
                .unwrap_or_else(|e| panic!("{request:?}: {e:?}"));
        }
        assert_eq!(client.tip().height(), self.node.tip().height);
        client
    }

    pub fn now_ms(&self) -> u64 {
        self.node.tip().timestamp_ms + 1
    }
}
