//! The story's full node: an [`itc_chain::FullNode`] over its own [`MemoryStore`], fed the
//! blocks one honest validator committed (it verifies each certificate itself), answering every
//! light-client request. Memory is the node's retention ([`FullNodeConfig`]), not the chain's
//! length: old blocks and accumulator nodes are read back from the store.

use core::convert::Infallible;

use itc_chain::{
    Accepted, BlockRejected, BlockStore, FullNode, FullNodeConfig, MemoryStore, Store,
};
use itc_crypto::Hash;
use itc_ledger::{GenesisState, Ledger};
use itc_pbft::{BlockHeader, CertifiedBlock};
use itc_spv::{Request, Response};

use crate::error::StoryError;

/// A full node and its store, as the story's phones and lamps reach it.
#[derive(Debug, Clone)]
pub struct Server {
    node: FullNode,
    store: MemoryStore,
}

/// `MemoryStore` cannot fail.
fn infallible<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

impl Server {
    /// A full node at genesis.
    pub fn new(
        checkpoint_interval: u64,
        genesis: &GenesisState,
        genesis_time_ms: u64,
    ) -> Result<Self, StoryError> {
        let (node, writes) = FullNode::new(
            FullNodeConfig::new(checkpoint_interval),
            genesis,
            genesis_time_ms,
        )
        .map_err(StoryError::FullNodeGenesis)?;
        let mut store = MemoryStore::new();
        infallible(store.commit(writes));
        Ok(Server { node, store })
    }

    /// Verifies, executes and stores the next block (writes committed before it is served).
    pub fn handle_block(&mut self, block: CertifiedBlock) -> Result<Accepted, BlockRejected> {
        let accepted = self.node.handle_block(block)?;
        infallible(self.store.commit(accepted.writes.clone()));
        Ok(accepted)
    }

    /// Answers a light client of validator capacity `N`.
    pub fn answer<const N: usize>(&self, request: &Request) -> Response<N> {
        infallible(self.node.answer(&self.store, request))
    }

    /// The newest block's header.
    pub fn tip(&self) -> &BlockHeader {
        self.node.tip()
    }

    /// The header at `height`, if stored.
    pub fn header(&self, height: u64) -> Option<BlockHeader> {
        infallible(self.store.header(height))
    }

    /// The certified block at `height`, if stored.
    pub fn block(&self, height: u64) -> Option<CertifiedBlock> {
        infallible(self.store.block(height))
    }

    /// The ledger after the tip block.
    pub fn ledger(&self) -> &Ledger {
        self.node.ledger()
    }

    /// The full-node core.
    pub fn node(&self) -> &FullNode {
        &self.node
    }

    /// Keeps a DAG snapshot for DAG-transaction proofs; returns its root.
    pub fn add_dag_snapshot(&mut self, snapshot: &itc_dag::DagSnapshot) -> Hash {
        self.node.add_dag_snapshot(snapshot)
    }
}
