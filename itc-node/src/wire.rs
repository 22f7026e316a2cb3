//! The node's own wire messages (request-response between nodes), in the canonical encoding of
//! `itc_crypto`, decoded strictly with every length bounded before allocation. Payloads that
//! belong to the core (consensus messages) stay opaque bytes here.

use itc_crypto::encoding::{write_bytes, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::{DomainTag, Hash, PublicKey, Signature, Signer};
use itc_pbft::CertifiedBlock;

/// Largest frame a node reads or writes (bytes).
pub const MAX_FRAME: usize = 4 << 20;
/// Most blocks one fetch returns.
pub const MAX_BLOCKS_PER_FETCH: u16 = 32;
/// Largest opaque consensus payload.
pub const MAX_CONSENSUS_BYTES: usize = MAX_FRAME - 16;
/// Most transactions in one [`NodeRequest::Transactions`].
pub const MAX_TXS_PER_FRAME: usize = 1024;
/// Largest transaction in a [`NodeRequest::Transactions`].
pub const MAX_TX_BYTES: usize = 64 * 1024;

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
    /// A client transaction (encoded ledger transaction).
    Transaction(Vec<u8>),
    /// Client transactions, in submission order (at most [`MAX_TXS_PER_FRAME`], each at most
    /// [`MAX_TX_BYTES`]).
    Transactions(Vec<Vec<u8>>),
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
            NodeRequest::Transaction(b) => {
                4u8.encode(w);
                write_bytes(w, b);
            }
            NodeRequest::Transactions(txs) => {
                5u8.encode(w);
                itc_crypto::encoding::write_varint(w, txs.len() as u64);
                for tx in txs {
                    write_bytes(w, tx);
                }
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
            4 => NodeRequest::Transaction(r.read_byte_vec(MAX_CONSENSUS_BYTES)?),
            5 => {
                // Each entry is at least its one-byte length prefix.
                let n = r.read_count(MAX_TXS_PER_FRAME, 1)?;
                let mut txs = Vec::with_capacity(n);
                for _ in 0..n {
                    txs.push(r.read_byte_vec(MAX_TX_BYTES)?);
                }
                NodeRequest::Transactions(txs)
            }
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
            NodeRequest::Transaction(vec![3]),
            NodeRequest::Transactions(vec![vec![4, 5], vec![], vec![6]]),
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
    }
}
