//! Client requests and the batches the primary orders.
//!
//! A [`Request`] is an opaque payload (for IoT Chain: a ledger transaction) with a client id
//! and a per-client request id. The replica does not authenticate payloads — the application
//! does (ledger transactions carry their own signatures) — so a batch of 1,000 requests costs
//! one pre-prepare signature, not 1,000.
//!
//! De-duplication is best effort: a client's request ids must increase (PBFT's timestamps);
//! the primary never proposes a request whose id is not above the last one it saw committed
//! for that client, and never the same `(client, id)` twice while it is pending. Exactly-once
//! execution is the application's job (ledger nonces), because the committed-id table is
//! bounded and a replica that restarts or catches up may not have seen every old id.

// Cortex-M0+ (thumbv6m) and RISC-V without the A extension (riscv32imc, ESP32-C3) have no atomic
// compare-and-swap, so `alloc::sync` does not exist there. A batch is then shared by `Rc`: those
// are single-core targets, and nothing sends a batch across threads.
#[cfg(not(target_has_atomic = "ptr"))]
use alloc::rc::Rc as Shared;
#[cfg(target_has_atomic = "ptr")]
use alloc::sync::Arc as Shared;
use alloc::vec::Vec;

use itc_crypto::encoding::{varint_len, write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{Hash, TaggedHasher};
use itc_crypto::merkle::{merkle_root_of_hashes, LEAF_TAG};

use crate::header::batch_leaf;

/// Largest payload the protocol ever accepts (a config may set a lower limit).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Most requests in one batch the protocol ever accepts.
pub const MAX_BATCH_REQUESTS: usize = 16 * 1024;
/// Most encoded bytes of one batch the protocol ever accepts.
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Who sent a request. The integrator maps its clients (connections, addresses) to ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClientId(pub u64);

/// One client request: an opaque payload the application will execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The client that sent it.
    pub client: ClientId,
    /// Per-client id, increasing; used for de-duplication.
    pub id: u64,
    /// Opaque bytes (a ledger transaction).
    pub payload: Vec<u8>,
}

impl Request {
    /// A request.
    pub fn new(client: ClientId, id: u64, payload: Vec<u8>) -> Self {
        Request {
            client,
            id,
            payload,
        }
    }

    /// The Merkle leaf hash of this request (see [`crate::header::batch_leaf`]).
    pub fn leaf_hash(&self) -> Hash {
        let mut h = TaggedHasher::new(LEAF_TAG);
        batch_leaf(&mut h, self.client.0, self.id, &self.payload);
        h.finalize()
    }
}

impl Encode for Request {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        batch_leaf(w, self.client.0, self.id, &self.payload);
    }
    fn encoded_len(&self) -> usize {
        16 + varint_len(self.payload.len() as u64) + self.payload.len()
    }
}

impl Decode for Request {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let client = ClientId(u64::decode(r)?);
        let id = u64::decode(r)?;
        let payload = r.read_byte_vec(MAX_PAYLOAD_BYTES)?;
        Ok(Request {
            client,
            id,
            payload,
        })
    }
}

/// An ordered, immutable batch of requests, cheap to clone (shared).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch(Shared<[Request]>);

impl Batch {
    /// Wraps requests in order.
    pub fn new(requests: Vec<Request>) -> Self {
        Batch(requests.into())
    }

    /// The empty batch.
    pub fn empty() -> Self {
        Batch::default()
    }

    /// The requests in order.
    pub fn requests(&self) -> &[Request] {
        &self.0
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no requests.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The Merkle root the header commits to (leaf `i` = canonical encoding of request `i`).
    pub fn root(&self) -> Hash {
        let leaves: Vec<Hash> = self.0.iter().map(Request::leaf_hash).collect();
        merkle_root_of_hashes(&leaves)
    }

    /// Sum of the requests' encoded sizes.
    pub fn payload_bytes(&self) -> usize {
        self.0
            .iter()
            .fold(0usize, |acc, r| acc.saturating_add(r.encoded_len()))
    }
}

impl Encode for Batch {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        write_varint(w, self.0.len() as u64);
        for r in self.0.iter() {
            r.encode(w);
        }
    }
}

impl Decode for Batch {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.remaining();
        // Each request is at least 17 bytes, so a forged count cannot reserve memory the
        // input does not back.
        let n = r.read_count(MAX_BATCH_REQUESTS, 17)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Request::decode(r)?);
            let used = start.saturating_sub(r.remaining());
            if used > MAX_BATCH_BYTES {
                return Err(DecodeError::LengthOverLimit {
                    len: used as u64,
                    max: MAX_BATCH_BYTES as u64,
                });
            }
        }
        Ok(Batch::new(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use itc_crypto::merkle::{leaf_hash, MerkleTree};
    use proptest::prelude::*;

    #[test]
    fn leaf_hash_is_the_merkle_leaf_of_the_encoding() {
        let r = Request::new(ClientId(3), 9, b"tx".to_vec());
        assert_eq!(r.leaf_hash(), leaf_hash(&r.encode_to_vec()));
        let b = Batch::new(vec![r.clone(), Request::new(ClientId(4), 1, vec![])]);
        let encodings: Vec<Vec<u8>> = b.requests().iter().map(|r| r.encode_to_vec()).collect();
        let tree = MerkleTree::from_leaves(&encodings);
        assert_eq!(b.root(), tree.root());
        // An SPV proof of request 0 verifies against the root.
        let proof = tree.prove(0).unwrap();
        assert!(proof.verify(&b.root(), &r.leaf_hash()).is_ok());
    }

    #[test]
    fn forged_counts_are_rejected_before_allocating() {
        let mut buf = Vec::new();
        write_varint(&mut buf, MAX_BATCH_REQUESTS as u64);
        assert!(matches!(
            Batch::decode_bytes(&buf),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        let mut buf = Vec::new();
        write_varint(&mut buf, MAX_BATCH_REQUESTS as u64 + 1);
        assert!(matches!(
            Batch::decode_bytes(&buf),
            Err(DecodeError::LengthOverLimit { .. })
        ));
    }

    proptest! {
        #[test]
        fn batch_round_trips(reqs in proptest::collection::vec((any::<u64>(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..20)) {
            let b = Batch::new(reqs.into_iter().map(|(c, i, p)| Request::new(ClientId(c), i, p)).collect());
            let bytes = b.encode_to_vec();
            prop_assert_eq!(bytes.len(), b.encoded_len());
            prop_assert_eq!(Batch::decode_bytes(&bytes).unwrap(), b);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Batch::decode_bytes(&data);
            let _ = Request::decode_bytes(&data);
        }
    }
}
