//! The node's own wire messages, in the canonical encoding of `itc_crypto`, decoded strictly
//! with every length bounded before allocation: [`NodeRequest`]/[`NodeResponse`] between two
//! nodes (request-response: consensus, block fetch), and [`TxBatch`], the client transactions
//! gossiped to every node (gossipsub). Payloads that belong to the core (consensus messages,
//! transactions) stay opaque bytes here.

use itc_crypto::encoding::{write_bytes, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::{DomainTag, Hash, PublicKey, Signature, Signer};
use itc_pbft::CertifiedBlock;

/// Largest frame a node reads or writes (bytes).
pub const MAX_FRAME: usize = 4 << 20;
/// Most blocks one fetch returns.
pub const MAX_BLOCKS_PER_FETCH: u16 = 32;
/// Largest opaque consensus payload.
pub const MAX_CONSENSUS_BYTES: usize = MAX_FRAME - 16;
/// Most transactions in one [`TxBatch`].
pub const MAX_TXS_PER_BATCH: usize = 1024;
/// Largest transaction in a [`TxBatch`].
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Largest encoded [`TxBatch`] (the gossipsub transmit limit; [`TxBatch::split`] keeps under it).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Domain of the peer-binding signature.
pub const PEER_BINDING: DomainTag = DomainTag::new(b"itc/node/peer-binding/v1");

/// A validator's signature binding a libp2p `PeerId` to its chain key, for one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerBinding {
    /// The validator's chain key.
    pub key: PublicKey,
    /// Its signature over (genesis hash, peer id bytes) under [`PEER_BINDING`].
    pub signature: Signature,
}

fn binding_message(genesis: &Hash, peer_id: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + peer_id.len());
    m.extend_from_slice(&genesis.0);
    m.extend_from_slice(peer_id);
    m
}

impl PeerBinding {
    /// Signs the binding of `peer_id` on the chain of `genesis` with `signer`.
    pub fn sign<S: Signer>(
        signer: &S,
        genesis: &Hash,
        peer_id: &[u8],
    ) -> Result<Self, itc_crypto::CryptoError> {
        Ok(PeerBinding {
            key: signer.public_key(),
            signature: signer.sign(PEER_BINDING, &binding_message(genesis, peer_id))?,
        })
    }

    /// Whether the binding is a valid signature of `key` over `peer_id` for this chain.
    pub fn verify(&self, genesis: &Hash, peer_id: &[u8]) -> bool {
        self.key
            .verify(
                PEER_BINDING,
                &binding_message(genesis, peer_id),
                &self.signature,
            )
            .is_ok()
    }
}

/// A request from one node to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRequest {
    /// Sent on connect: the sender's binding, if it is a validator.
    Hello(Option<PeerBinding>),
    /// The peer's tip height.
    Status,
    /// Certified blocks `from ..` (at most [`MAX_BLOCKS_PER_FETCH`]).
    GetBlocks {
        /// First height.
        from: u64,
        /// How many.
        count: u16,
    },
    /// A consensus message for the core (only accepted from a bound validator).
    Consensus(Vec<u8>),
}

/// Client transactions (encoded ledger transactions), in submission order, as one gossipsub
/// message: at most [`MAX_TXS_PER_BATCH`], each at most [`MAX_TX_BYTES`], encoded at most
/// [`MAX_BATCH_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxBatch(pub Vec<Vec<u8>>);

impl TxBatch {
    /// `txs` in order, cut into batches that each respect the bounds. A transaction larger
    /// than [`MAX_TX_BYTES`] is left out (no peer would decode it); the caller has already
    /// refused it or never sees it (the API bounds request bodies).
    pub fn split(txs: Vec<Vec<u8>>) -> Vec<TxBatch> {
        let mut out = Vec::new();
        let mut batch = Vec::new();
        let mut size = 8;
        for tx in txs.into_iter().filter(|t| t.len() <= MAX_TX_BYTES) {
            let len = tx.len() + 4;
            if batch.len() == MAX_TXS_PER_BATCH || size + len > MAX_BATCH_BYTES {
                out.push(TxBatch(std::mem::take(&mut batch)));
                size = 8;
            }
            size += len;
            batch.push(tx);
        }
        if !batch.is_empty() {
            out.push(TxBatch(batch));
        }
        out
    }
}

impl Encode for TxBatch {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        itc_crypto::encoding::write_varint(w, self.0.len() as u64);
        for tx in &self.0 {
            write_bytes(w, tx);
        }
    }
}

impl Decode for TxBatch {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // Each entry is at least its one-byte length prefix.
        let n = r.read_count(MAX_TXS_PER_BATCH, 1)?;
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            txs.push(r.read_byte_vec(MAX_TX_BYTES)?);
        }
        Ok(TxBatch(txs))
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeResponse {
    /// The responder's binding.
    Hello(Option<PeerBinding>),
    /// The responder's tip height.
    Status {
        /// Tip height.
        tip: u64,
    },
    /// Blocks, ascending, possibly fewer than asked.
    Blocks(Vec<CertifiedBlock>),
    /// Received.
    Ack,
    /// Refused (rate limit, unbound peer, malformed request).
    Refused,
}

fn write_binding<W: Writer + ?Sized>(w: &mut W, b: &Option<PeerBinding>) {
    match b {
        None => 0u8.encode(w),
        Some(b) => {
            1u8.encode(w);
            b.key.encode(w);
            b.signature.encode(w);
        }
    }
}

fn read_binding(r: &mut Reader<'_>) -> Result<Option<PeerBinding>, DecodeError> {
    match r.read_u8()? {
        0 => Ok(None),
        1 => Ok(Some(PeerBinding {
            key: PublicKey::decode(r)?,
            signature: Signature::decode(r)?,
        })),
        t => Err(DecodeError::UnknownVariant {
            type_name: "PeerBinding option",
            tag: u64::from(t),
        }),
    }
}

impl Encode for NodeRequest {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            NodeRequest::Hello(b) => {
                0u8.encode(w);
                write_binding(w, b);
            }
            NodeRequest::Status => 1u8.encode(w),
            NodeRequest::GetBlocks { from, count } => {
                2u8.encode(w);
                from.encode(w);
                count.encode(w);
            }
            NodeRequest::Consensus(b) => {
                3u8.encode(w);
                write_bytes(w, b);
            }
        }
    }
}

impl Decode for NodeRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => NodeRequest::Hello(read_binding(r)?),
            1 => NodeRequest::Status,
            2 => NodeRequest::GetBlocks {
                from: u64::decode(r)?,
                count: u16::decode(r)?,
            },
            3 => NodeRequest::Consensus(r.read_byte_vec(MAX_CONSENSUS_BYTES)?),
            t => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "node message",
                    tag: u64::from(t),
                })
            }
        })
    }
}

impl Encode for NodeResponse {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            NodeResponse::Hello(b) => {
                0u8.encode(w);
                write_binding(w, b);
            }
            NodeResponse::Status { tip } => {
                1u8.encode(w);
                tip.encode(w);
            }
            NodeResponse::Blocks(blocks) => {
                2u8.encode(w);
                itc_crypto::encoding::write_seq(w, blocks);
            }
            NodeResponse::Ack => 3u8.encode(w),
            NodeResponse::Refused => 4u8.encode(w),
        }
    }
}

impl Decode for NodeResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => NodeResponse::Hello(read_binding(r)?),
            1 => NodeResponse::Status {
                tip: u64::decode(r)?,
            },
            2 => NodeResponse::Blocks(r.read_vec(usize::from(MAX_BLOCKS_PER_FETCH))?),
            3 => NodeResponse::Ack,
            4 => NodeResponse::Refused,
            t => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "node message",
                    tag: u64::from(t),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use itc_crypto::SecretKey;

    #[test]
    fn round_trip_and_bad_bytes() {
        let key = SecretKey::from_bytes(&[3; 32]).unwrap();
        let b = PeerBinding::sign(&key, &Hash([1; 32]), b"peer").unwrap();
        assert!(b.verify(&Hash([1; 32]), b"peer"));
        assert!(!b.verify(&Hash([2; 32]), b"peer"));
        assert!(!b.verify(&Hash([1; 32]), b"other"));
        for req in [
            NodeRequest::Hello(Some(b)),
            NodeRequest::Hello(None),
            NodeRequest::Status,
            NodeRequest::GetBlocks { from: 3, count: 9 },
            NodeRequest::Consensus(vec![1, 2]),
        ] {
            let bytes = req.encode_to_vec();
            assert_eq!(NodeRequest::decode_bytes(&bytes), Ok(req));
            assert!(NodeRequest::decode_bytes(&bytes[..bytes.len() - 1]).is_err());
        }
        assert!(NodeRequest::decode_bytes(&[9]).is_err());
        assert!(NodeResponse::decode_bytes(&[2, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert_eq!(
            NodeResponse::decode_bytes(&NodeResponse::Status { tip: 5 }.encode_to_vec()),
            Ok(NodeResponse::Status { tip: 5 })
        );
        // The retired transaction requests (tags 4 and 5) are unknown now: one path, gossip.
        assert!(NodeRequest::decode_bytes(&[4, 1, 3]).is_err());
    }

    #[test]
    fn tx_batches_are_bounded_both_ways() {
        let batch = TxBatch(vec![vec![4, 5], vec![], vec![6]]);
        let bytes = batch.encode_to_vec();
        assert_eq!(TxBatch::decode_bytes(&bytes), Ok(batch));
        assert!(TxBatch::decode_bytes(&bytes[..bytes.len() - 1]).is_err());
        // A count over the bound is refused before anything is allocated.
        let mut w = Vec::new();
        itc_crypto::encoding::write_varint(&mut w, MAX_TXS_PER_BATCH as u64 + 1);
        assert!(TxBatch::decode_bytes(&w).is_err());
        // A transaction over the bound.
        let big = TxBatch(vec![vec![0; MAX_TX_BYTES + 1]]).encode_to_vec();
        assert!(TxBatch::decode_bytes(&big).is_err());
        // split: order kept, every batch within its bounds, oversized transactions left out.
        let txs: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| vec![u8::try_from(i % 251).unwrap(); 200 + (i as usize % 7) * 100])
            .chain([vec![1; MAX_TX_BYTES + 1]])
            .collect();
        let batches = TxBatch::split(txs.clone());
        assert!(batches.len() >= 3);
        let mut flat = Vec::new();
        for b in &batches {
            let encoded = b.encode_to_vec();
            assert!(encoded.len() <= MAX_BATCH_BYTES);
            assert!(b.0.len() <= MAX_TXS_PER_BATCH);
            assert_eq!(TxBatch::decode_bytes(&encoded).as_ref(), Ok(b));
            flat.extend(b.0.iter().cloned());
        }
        assert_eq!(flat, txs[..3000]);
        let large: Vec<Vec<u8>> = (0..40).map(|_| vec![7; MAX_TX_BYTES]).collect();
        for b in TxBatch::split(large) {
            assert!(b.encode_to_vec().len() <= MAX_BATCH_BYTES);
        }
    }
}
