//! Proofs checked against a verified header: a batch request's inclusion in a block, a state
//! entry (present or absent) under a header's state root, a DAG transaction's inclusion in an
//! anchored snapshot — and how many confirmations each has.
//!
//! Every check is a method of [`VerifiedHeader`], a value only the client can produce, so a
//! proof can never be checked against a root nobody verified. The client-level helpers look
//! the header up in the ring. Each check returns a value that carries what it proved —
//! [`VerifiedEntry`], [`VerifiedTransaction`], [`VerifiedDagTransaction`] — with private
//! fields and no public constructor: holding one *is* the proof, so a device can act on it
//! (install a proven ownership record, say) without checking the same proof again, and
//! nothing hand-built can pass for it. Confirmations are the client's current count
//! ([`LightClient::confirmations`]), not part of the proof.
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

use itc_crypto::encoding::{Decode, DecodeError};
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
/// A DAG transaction id: `itc_dag::TxId` with feature `dag`, its raw [`Hash`](struct@Hash) without (so a
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

/// A state entry proven present (with its value's encoding) or absent under the state root of
/// a verified header: the state as of block `height − 1` (state-root lag). The value is
/// borrowed from wherever the proof came with it (a [`crate::Response`] holds at most
/// [`crate::messages::MAX_STATE_VALUE`] bytes), so no allocation is needed.
///
/// Only [`LightClient::verify_state`] / [`VerifiedHeader::verify_state`] (and the driver's
/// [`crate::Event::State`]) make one; it cannot be built by hand:
///
/// ```compile_fail
/// use itc_ledger::StateKey;
/// use itc_spv::VerifiedEntry;
/// fn forge(header: itc_spv::VerifiedHeader) -> VerifiedEntry<'static> {
///     VerifiedEntry { header, key: StateKey::Anchor(1), value: None } // private fields
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedEntry<'a> {
    header: VerifiedHeader,
    key: StateKey,
    value: Option<&'a [u8]>,
}

impl<'a> VerifiedEntry<'a> {
    /// The verified header whose state root the proof was checked against (height, state
    /// root, timestamp).
    pub fn header(&self) -> &VerifiedHeader {
        &self.header
    }

    /// The header's height (the entry is the state after block `height − 1`).
    pub fn height(&self) -> u64 {
        self.header.height()
    }

    /// The state root the entry is proven under.
    pub fn state_root(&self) -> Hash {
        self.header.header().state_root
    }

    /// The entry's key.
    pub fn key(&self) -> &StateKey {
        &self.key
    }

    /// The proven value's canonical encoding, or `None`: proven absent.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The proven value decoded as `T` (`None` if proven absent). A decoding error means the
    /// chain stored something else under this key than the caller expects.
    pub fn decode_value<T: Decode>(&self) -> Option<Result<T, DecodeError>> {
        self.value.map(T::decode_bytes)
    }
}

/// A batch request proven included in a verified block (its leaf under `batch_root`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedTransaction {
    header: VerifiedHeader,
    leaf: Hash,
}

impl VerifiedTransaction {
    /// The block's verified header.
    pub fn header(&self) -> &VerifiedHeader {
        &self.header
    }

    /// The block's height (the inclusion height).
    pub fn height(&self) -> u64 {
        self.header.height()
    }

    /// The request's batch leaf hash ([`request_leaf`]).
    pub fn leaf(&self) -> Hash {
        self.leaf
    }
}

/// A DAG transaction proven in a snapshot whose anchor record is proven under a verified
/// header's state root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedDagTransaction {
    header: VerifiedHeader,
    anchor: u64,
    record: AnchorRecord,
    tx: DagTxId,
}

impl VerifiedDagTransaction {
    /// The verified header whose state root holds the anchor record.
    pub fn header(&self) -> &VerifiedHeader {
        &self.header
    }

    /// The anchor sequence (the ledger's `StateKey::Anchor`).
    pub fn anchor(&self) -> u64 {
        self.anchor
    }

    /// The anchoring height: the transaction's inclusion height on the main chain.
    pub fn height(&self) -> u64 {
        self.record.height
    }

    /// The root of the anchored snapshot.
    pub fn snapshot_root(&self) -> Hash {
        self.record.snapshot_root
    }

    /// The transaction.
    pub fn tx(&self) -> &DagTxId {
        &self.tx
    }
}

impl VerifiedHeader {
    /// Checks that the batch leaf with hash `leaf` is in this block (against `batch_root`).
    pub fn verify_transaction(
        &self,
        leaf: &Hash,
        proof: &InclusionProof,
    ) -> Result<VerifiedTransaction, SpvError> {
        proof.verify(&self.header().batch_root, leaf)?;
        Ok(VerifiedTransaction {
            header: *self,
            leaf: *leaf,
        })
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
    /// let mut client: LightClient<4, 8> = LightClient::new(chain.anchor(), Config::new(10), chain.now_ms()).unwrap();
    /// let verified = client.verify_header(&header, &cert, None::<&itc_crypto::ValidatorSet<8>>, chain.now_ms()).unwrap();
    ///
    /// let request = Request::TransactionProof { height: 1, leaf: request_leaf(7, 1, b"turn on") };
    /// let Response::<8>::TransactionProof { proof, .. } = chain.server().answer(&request) else { panic!() };
    /// let included = verified.verify_request(7, 1, b"turn on", &proof).unwrap();
    /// assert_eq!(included.height(), 1);
    /// assert!(verified.verify_request(7, 1, b"turn off", &proof).is_err());
    /// ```
    pub fn verify_request(
        &self,
        client: u64,
        request_id: u64,
        payload: &[u8],
        proof: &InclusionProof,
    ) -> Result<VerifiedTransaction, SpvError> {
        self.verify_transaction(&request_leaf(client, request_id, payload), proof)
    }

    /// Checks that under this header's state root, `key` holds the encoding `value`
    /// (`Some`) or is absent (`None`) — the state as of block `height − 1` (state-root lag).
    pub fn verify_state<'v>(
        &self,
        key: &StateKey,
        value: Option<&'v [u8]>,
        proof: &StateProof,
    ) -> Result<VerifiedEntry<'v>, SpvError> {
        proof.verify_entry(&self.header().state_root, key, value)?;
        Ok(VerifiedEntry {
            header: *self,
            key: *key,
            value,
        })
    }

    /// Checks that DAG transaction `tx` is in the snapshot anchored as `anchor` (record proven
    /// under this header's state root). The result's height is the anchoring height (the
    /// transaction's inclusion height).
    pub fn verify_dag_transaction(
        &self,
        anchor: u64,
        record: &AnchorRecord,
        anchor_proof: &StateProof,
        tx: &DagTxId,
        tx_proof: &InclusionProof,
    ) -> Result<VerifiedDagTransaction, SpvError> {
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
        Ok(VerifiedDagTransaction {
            header: *self,
            anchor,
            record: *record,
            tx: *tx,
        })
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
    /// let mut client: LightClient<8, 8> = LightClient::new(chain.checkpoint(2), Config::new(10), chain.now_ms()).unwrap();
    /// let Response::<8>::StateProof { proof, .. } = chain.server().answer(&Request::StateProof { height: 2, key }) else { panic!() };
    /// let entry = client.verify_state(2, &key, Some(&acct), &proof).unwrap();
    /// assert_eq!((entry.height(), entry.value()), (2, Some(&acct[..])));
    /// assert_eq!(entry.decode_value::<Account>(), Some(Ok(Account { balance: 9, nonce: 0 })));
    /// assert!(client.verify_state(2, &key, None, &proof).is_err()); // it is present
    /// ```
    pub fn verify_state<'v>(
        &self,
        header_height: u64,
        key: &StateKey,
        value: Option<&'v [u8]>,
        proof: &StateProof,
    ) -> Result<VerifiedEntry<'v>, SpvError> {
        self.recent(header_height)?.verify_state(key, value, proof)
    }

    /// Checks a batch leaf's inclusion in the recent block at `height`.
    pub fn verify_transaction(
        &self,
        height: u64,
        leaf: &Hash,
        proof: &InclusionProof,
    ) -> Result<VerifiedTransaction, SpvError> {
        self.recent(height)?.verify_transaction(leaf, proof)
    }

    /// Checks a DAG transaction through an anchor proven under the recent header at
    /// `header_height`.
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
    /// let client: LightClient<8, 8> = LightClient::new(chain.checkpoint(4), Config::new(10), chain.now_ms()).unwrap();
    /// let request = Request::DagTransactionProof { height: 4, anchor: 1, tx: ids[2] };
    /// let Response::<8>::DagTransactionProof { record, anchor_proof, tx_proof, .. } =
    ///     chain.server().answer(&request) else { panic!() };
    /// let proven = client.verify_dag_transaction(4, 1, &record, &anchor_proof, &dag_tx_id(ids[2]), &tx_proof).unwrap();
    /// assert_eq!(proven.height(), 1); // anchored at height 1
    /// assert_eq!(client.confirmations(proven.height()), Ok(3));
    /// ```
    pub fn verify_dag_transaction(
        &self,
        header_height: u64,
        anchor: u64,
        record: &AnchorRecord,
        anchor_proof: &StateProof,
        tx: &DagTxId,
        tx_proof: &InclusionProof,
    ) -> Result<VerifiedDagTransaction, SpvError> {
        self.recent(header_height)?.verify_dag_transaction(
            anchor,
            record,
            anchor_proof,
            tx,
            tx_proof,
        )
    }
}
