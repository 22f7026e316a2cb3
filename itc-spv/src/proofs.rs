//! Proofs checked against a verified header: a batch request's inclusion in a block, a state
//! entry (present or absent) under a header's state root, a DAG transaction's inclusion in an
//! anchored snapshot — and how many confirmations each has.
//!
//! Every check is a method of [`VerifiedHeader`], a value only the client can produce, so a
//! proof can never be checked against a root nobody verified. The client-level helpers look
//! the header up in the ring and add the confirmation count (tip height − inclusion height).
//!
//! Two protocol facts the checks encode:
//!
//! * **State-root lag.** Header `h` carries the state *after executing blocks ≤ h − 1*
//!   ([`itc_pbft::header`]), so a state proof against header `h` speaks about the state as of
//!   block `h − 1`; to prove the effect of block `h`, use header `h + 1`.
//! * **DAG anchors.** A DAG snapshot's root reaches the main chain as the ledger's
//!   [`AnchorRecord`] under `StateKey::Anchor(sequence)`. A transaction is included when the
//!   record is proven under a verified state root and the id under the record's snapshot root
//!   (leaf `leaf_hash(id bytes)`, never leaf 0, which is the snapshot header — the layout
//!   `itc_dag::snapshot` documents). Its inclusion height is the record's `height`.

use itc_crypto::merkle::{leaf_hash, InclusionProof, MerkleError, LEAF_TAG};
use itc_crypto::{Hash, TaggedHasher};
use itc_ledger::{AnchorRecord, StateKey, StateProof};
use itc_pbft::header::batch_leaf;

use crate::client::LightClient;
use crate::error::SpvError;
use crate::ring::VerifiedHeader;

/// A DAG transaction id: `itc_dag::TxId` with feature `dag`, its raw [`Hash`](struct@Hash) without (so a
/// vendor who needs only SPV never compiles the tangle).
#[cfg(feature = "dag")]
pub type DagTxId = itc_dag::TxId;
/// A DAG transaction id: `itc_dag::TxId` with feature `dag`, its raw [`Hash`] without (so a
/// vendor who needs only SPV never compiles the tangle).
#[cfg(not(feature = "dag"))]
pub type DagTxId = Hash;

/// A [`DagTxId`] from the id's hash (as carried in requests and responses).
#[cfg(feature = "dag")]
pub fn dag_tx_id(hash: Hash) -> DagTxId {
    itc_dag::TxId(hash)
}
/// A [`DagTxId`] from the id's hash (as carried in requests and responses).
#[cfg(not(feature = "dag"))]
pub fn dag_tx_id(hash: Hash) -> DagTxId {
    hash
}

/// The 32 id bytes (both `TxId` and `Hash` expose them the same way).
fn dag_tx_bytes(id: &DagTxId) -> &[u8; 32] {
    id.as_bytes()
}

/// The Merkle leaf hash of a batch request (`itc_pbft::header::batch_leaf` bytes), streamed
/// without a buffer.
pub fn request_leaf(client: u64, request_id: u64, payload: &[u8]) -> Hash {
    let mut h = TaggedHasher::new(LEAF_TAG);
    batch_leaf(&mut h, client, request_id, payload);
    h.finalize()
}

impl VerifiedHeader {
    /// Checks that the batch leaf with hash `leaf` is in this block (against `batch_root`).
    pub fn verify_transaction(&self, leaf: &Hash, proof: &InclusionProof) -> Result<(), SpvError> {
        proof.verify(&self.header().batch_root, leaf)?;
        Ok(())
    }

    /// Checks that the request `(client, request_id, payload)` is in this block.
    ///
    /// ```
    /// use itc_spv::server::BatchRequest;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{proofs::request_leaf, Config, LightClient, Request, Response};
    ///
    /// let mut chain = TestChain::new(4, 10);
    /// let on = BatchRequest { client: 7, request_id: 1, payload: b"turn on".to_vec() };
    /// let header = chain.push_block(vec![on], None).unwrap();
    /// let cert = chain.certificate(1).unwrap();
    /// let mut client: LightClient<4, 8> = LightClient::new(chain.anchor(), Config::new(10)).unwrap();
    /// let verified = client.verify_header(&header, &cert, None::<&itc_crypto::ValidatorSet<8>>).unwrap();
    ///
    /// let request = Request::TransactionProof { height: 1, leaf: request_leaf(7, 1, b"turn on") };
    /// let Response::<8>::TransactionProof { proof, .. } = chain.server().answer(&request) else { panic!() };
    /// assert!(verified.verify_request(7, 1, b"turn on", &proof).is_ok());
    /// assert!(verified.verify_request(7, 1, b"turn off", &proof).is_err());
    /// ```
    pub fn verify_request(
        &self,
        client: u64,
        request_id: u64,
        payload: &[u8],
        proof: &InclusionProof,
    ) -> Result<(), SpvError> {
        self.verify_transaction(&request_leaf(client, request_id, payload), proof)
    }

    /// Checks that under this header's state root, `key` holds the encoding `value`
    /// (`Some`) or is absent (`None`) — the state as of block `height − 1` (state-root lag).
    pub fn verify_state(
        &self,
        key: &StateKey,
        value: Option<&[u8]>,
        proof: &StateProof,
    ) -> Result<(), SpvError> {
        proof.verify_entry(&self.header().state_root, key, value)?;
        Ok(())
    }

    /// Checks that DAG transaction `tx` is in the snapshot anchored as `anchor` (record proven
    /// under this header's state root). Returns the anchoring height (its inclusion height).
    pub fn verify_dag_transaction(
        &self,
        anchor: u64,
        record: &AnchorRecord,
        anchor_proof: &StateProof,
        tx: &DagTxId,
        tx_proof: &InclusionProof,
    ) -> Result<u64, SpvError> {
        if record.height >= self.height() {
            // The record is in the state after block `record.height`, so only headers above
            // it can carry it; anything else is a record that lies about its height.
            return Err(SpvError::AnchorMismatch);
        }
        anchor_proof.verify_record(
            &self.header().state_root,
            &StateKey::Anchor(anchor),
            Some(record),
        )?;
        if tx_proof.leaf_index == 0 {
            // Leaf 0 of a snapshot is its header; an id can never sit there.
            return Err(SpvError::InclusionProof(MerkleError::RootMismatch));
        }
        tx_proof.verify(&record.snapshot_root, &leaf_hash(dag_tx_bytes(tx)))?;
        Ok(record.height)
    }
}

impl<const K: usize, const N: usize> LightClient<K, N> {
    fn recent(&self, height: u64) -> Result<&VerifiedHeader, SpvError> {
        self.header(height)
            .ok_or(SpvError::HeaderNotTrusted { height })
    }

    /// Checks a state entry under the state root of the recent header at `header_height`
    /// (the state as of block `header_height − 1`).
    ///
    /// ```
    /// use itc_crypto::{Address, Encode, ValidatorSet};
    /// use itc_ledger::{Account, StateKey};
    /// use itc_spv::server::StateSnapshot;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, LightClient, Request, Response};
    ///
    /// let key = StateKey::Account(Address([1; 20]));
    /// let acct = Account { balance: 9, nonce: 0 }.encode_to_vec();
    /// let mut chain = TestChain::new(4, 10);
    /// chain.push_block(vec![], Some(StateSnapshot::from_records([(key, acct.clone())]))).unwrap();
    /// chain.extend(1);
    /// let mut client: LightClient<8, 8> = LightClient::new(chain.checkpoint(2), Config::new(10)).unwrap();
    /// let Response::<8>::StateProof { proof, .. } = chain.server().answer(&Request::StateProof { height: 2, key }) else { panic!() };
    /// assert!(client.verify_state(2, &key, Some(&acct), &proof).is_ok());
    /// assert!(client.verify_state(2, &key, None, &proof).is_err()); // it is present
    /// ```
    pub fn verify_state(
        &self,
        header_height: u64,
        key: &StateKey,
        value: Option<&[u8]>,
        proof: &StateProof,
    ) -> Result<(), SpvError> {
        self.recent(header_height)?.verify_state(key, value, proof)
    }

    /// Checks a batch leaf's inclusion in the recent block at `height`; returns its
    /// confirmations.
    pub fn verify_transaction(
        &self,
        height: u64,
        leaf: &Hash,
        proof: &InclusionProof,
    ) -> Result<u64, SpvError> {
        self.recent(height)?.verify_transaction(leaf, proof)?;
        self.confirmations(height)
    }

    /// Checks a DAG transaction through an anchor proven under the recent header at
    /// `header_height`; returns `(anchoring height, confirmations)`.
    ///
    /// ```
    /// use itc_crypto::{keccak256, Encode, Hash};
    /// use itc_ledger::{AnchorRecord, StateKey};
    /// use itc_spv::proofs::dag_tx_id;
    /// use itc_spv::server::StateSnapshot;
    /// use itc_spv::testkit::TestChain;
    /// use itc_spv::{Config, LightClient, Request, Response};
    ///
    /// let ids: Vec<Hash> = (0..4u8).map(|i| keccak256(&[i])).collect();
    /// let mut chain = TestChain::new(4, 10);
    /// let root = chain.server_mut().store_mut().add_dag_snapshot(1, b"snapshot header", &ids);
    /// let record = AnchorRecord { snapshot_root: root, height: 1 };
    /// let state = StateSnapshot::from_records([(StateKey::Anchor(1), record.encode_to_vec())]);
    /// chain.push_block(vec![], Some(state)).unwrap(); // block 1 anchors the snapshot
    /// chain.extend(3);
    /// let client: LightClient<8, 8> = LightClient::new(chain.checkpoint(4), Config::new(10)).unwrap();
    /// let request = Request::DagTransactionProof { height: 4, anchor: 1, tx: ids[2] };
    /// let Response::<8>::DagTransactionProof { record, anchor_proof, tx_proof, .. } =
    ///     chain.server().answer(&request) else { panic!() };
    /// let checked = client.verify_dag_transaction(4, 1, &record, &anchor_proof, &dag_tx_id(ids[2]), &tx_proof);
    /// assert_eq!(checked, Ok((1, 3))); // anchored at height 1, 3 confirmations
    /// ```
    pub fn verify_dag_transaction(
        &self,
        header_height: u64,
        anchor: u64,
        record: &AnchorRecord,
        anchor_proof: &StateProof,
        tx: &DagTxId,
        tx_proof: &InclusionProof,
    ) -> Result<(u64, u64), SpvError> {
        let height = self.recent(header_height)?.verify_dag_transaction(
            anchor,
            record,
            anchor_proof,
            tx,
            tx_proof,
        )?;
        Ok((height, self.confirmations(height)?))
    }
}
