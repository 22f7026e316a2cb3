//! What the light client asks a full node, and what it gets back — with one canonical
//! encoding each, bounded so a device decodes a response without an allocator.
//!
//! ```text
//! Request  = 0 ‖ height u64 ‖ with_validators bool                  CertifiedHeader
//!          | 1 ‖ from u64 ‖ count u16                               Headers (back-fill)
//!          | 2 ‖ height u64 ‖ leaf_count u64                         HeaderProof (accumulator)
//!          | 3 ‖ height u64 ‖ StateKey                               StateProof
//!          | 4 ‖ height u64 ‖ leaf 32                                TransactionProof (batch)
//!          | 5 ‖ height u64 ‖ anchor u64 ‖ tx 32                     DagTransactionProof
//! Response = 0 ‖ header ‖ certificate ‖ Option<set> ‖ Option<next set>
//!          | 1 ‖ varint n ≤ 16 ‖ n headers
//!          | 2 ‖ header ‖ MmrProof
//!          | 3 ‖ height u64 ‖ StateKey ‖ Option<bytes ≤ 1024> ‖ StateProof
//!          | 4 ‖ height u64 ‖ leaf 32 ‖ InclusionProof
//!          | 5 ‖ height u64 ‖ anchor u64 ‖ AnchorRecord ‖ StateProof ‖ tx 32 ‖ InclusionProof
//!          | 6 ‖ Request                                              Unavailable
//! ```
//!
//! Nothing in a response is trusted for being in a response: the client verifies every field
//! against what it already trusts ([`crate::LightClient::handle_response`]).
//!
//! ```
//! use itc_crypto::{Decode, Encode};
//! use itc_spv::Request;
//! let r = Request::CertifiedHeader { height: 42, with_validators: true };
//! let bytes = r.encode_to_vec();
//! assert_eq!(Request::decode_bytes(&bytes).unwrap(), r);
//! assert!(Request::decode_bytes(&bytes[..bytes.len() - 1]).is_err());
//! ```

use itc_crypto::encoding::{write_bytes, write_seq, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::merkle::InclusionProof;
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::Hash;
use itc_ledger::{AnchorRecord, StateKey, StateProof};
use itc_pbft::certificate::CompactCommitCertificate;
use itc_pbft::BlockHeader;

use crate::mmr::MmrProof;

/// Most headers in one back-fill response (≈ 3 KiB, decodable on a device's stack).
pub const MAX_HEADERS_PER_RESPONSE: usize = 16;
/// Largest state value a response may carry (an ownership record with all its grants fits).
pub const MAX_STATE_VALUE: usize = 1024;

/// A question for a full node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The header at `height` with its commit certificate (and the header's own validator set
    /// when `with_validators`, needed to skip; the next set always comes if it changes).
    CertifiedHeader {
        /// Height asked for.
        height: u64,
        /// Include the set that certifies this header.
        with_validators: bool,
    },
    /// Up to `count` consecutive headers from `from` (no certificates): back-fill of the
    /// accumulator over heights the client skipped.
    Headers {
        /// First height.
        from: u64,
        /// How many (at most [`MAX_HEADERS_PER_RESPONSE`]).
        count: u16,
    },
    /// The header at `height` and its proof in the accumulator of `leaf_count` headers.
    HeaderProof {
        /// Height asked for.
        height: u64,
        /// The client's accumulator size.
        leaf_count: u64,
    },
    /// A state entry (present or absent) under the state root of the header at `height`.
    StateProof {
        /// Header whose `state_root` the proof is against.
        height: u64,
        /// The entry.
        key: StateKey,
    },
    /// Inclusion of a batch request, by its Merkle leaf hash, in the block at `height`.
    TransactionProof {
        /// Block height.
        height: u64,
        /// `itc_crypto::merkle::leaf_hash` of the request's batch-leaf bytes.
        leaf: Hash,
    },
    /// Inclusion of a DAG transaction in the snapshot anchored as `anchor`, proven under the
    /// state root of the header at `height`.
    DagTransactionProof {
        /// Header whose state root holds the anchor record.
        height: u64,
        /// Anchor sequence (the ledger's `StateKey::Anchor`).
        anchor: u64,
        /// The transaction id.
        tx: Hash,
    },
}

/// A full node's answer. `N` is the receiving client's validator capacity.
///
/// Variants differ in size (a DAG proof carries two proofs, an `Unavailable` a request): boxing
/// would need an allocator, and a device decodes one response at a time into one fixed slot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Response<const N: usize> {
    /// A header with its commit certificate.
    CertifiedHeader {
        /// The header.
        header: BlockHeader,
        /// Its commit certificate.
        certificate: CompactCommitCertificate<N>,
        /// The set that certified it, if asked for.
        validators: Option<ValidatorSet<N>>,
        /// The set it hands over to, if it changes the set.
        next_validators: Option<ValidatorSet<N>>,
    },
    /// Consecutive headers for back-fill.
    Headers(heapless::Vec<BlockHeader, MAX_HEADERS_PER_RESPONSE>),
    /// An old header and its accumulator proof.
    HeaderProof {
        /// The header.
        header: BlockHeader,
        /// Its proof.
        proof: MmrProof,
    },
    /// A state entry and its proof.
    StateProof {
        /// Header whose state root the proof is against.
        height: u64,
        /// The entry.
        key: StateKey,
        /// Its value's encoding, or `None` for "absent".
        value: Option<heapless::Vec<u8, MAX_STATE_VALUE>>,
        /// The sparse-Merkle proof.
        proof: StateProof,
    },
    /// A batch request's inclusion proof.
    TransactionProof {
        /// Block height.
        height: u64,
        /// The leaf hash.
        leaf: Hash,
        /// Proof against the header's `batch_root`.
        proof: InclusionProof,
    },
    /// A DAG transaction's inclusion through an anchor.
    DagTransactionProof {
        /// Header whose state root holds the anchor record.
        height: u64,
        /// Anchor sequence.
        anchor: u64,
        /// The anchor record (snapshot root, anchoring height).
        record: AnchorRecord,
        /// Proof of the record under the header's state root.
        anchor_proof: StateProof,
        /// The transaction id.
        tx: Hash,
        /// Proof of the id in the snapshot.
        tx_proof: InclusionProof,
    },
    /// The node cannot answer this request.
    Unavailable(Request),
}

impl Encode for Request {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            Request::CertifiedHeader {
                height,
                with_validators,
            } => {
                w.write(&[0]);
                height.encode(w);
                with_validators.encode(w);
            }
            Request::Headers { from, count } => {
                w.write(&[1]);
                from.encode(w);
                count.encode(w);
            }
            Request::HeaderProof { height, leaf_count } => {
                w.write(&[2]);
                height.encode(w);
                leaf_count.encode(w);
            }
            Request::StateProof { height, key } => {
                w.write(&[3]);
                height.encode(w);
                key.encode(w);
            }
            Request::TransactionProof { height, leaf } => {
                w.write(&[4]);
                height.encode(w);
                leaf.encode(w);
            }
            Request::DagTransactionProof { height, anchor, tx } => {
                w.write(&[5]);
                height.encode(w);
                anchor.encode(w);
                tx.encode(w);
            }
        }
    }
}

impl Decode for Request {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => Request::CertifiedHeader {
                height: u64::decode(r)?,
                with_validators: bool::decode(r)?,
            },
            1 => Request::Headers {
                from: u64::decode(r)?,
                count: u16::decode(r)?,
            },
            2 => Request::HeaderProof {
                height: u64::decode(r)?,
                leaf_count: u64::decode(r)?,
            },
            3 => Request::StateProof {
                height: u64::decode(r)?,
                key: StateKey::decode(r)?,
            },
            4 => Request::TransactionProof {
                height: u64::decode(r)?,
                leaf: Hash::decode(r)?,
            },
            5 => Request::DagTransactionProof {
                height: u64::decode(r)?,
                anchor: u64::decode(r)?,
                tx: Hash::decode(r)?,
            },
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "Request",
                    tag: u64::from(tag),
                })
            }
        })
    }
}

impl<const N: usize> Encode for Response<N> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            Response::CertifiedHeader {
                header,
                certificate,
                validators,
                next_validators,
            } => {
                w.write(&[0]);
                header.encode(w);
                certificate.encode(w);
                validators.encode(w);
                next_validators.encode(w);
            }
            Response::Headers(headers) => {
                w.write(&[1]);
                write_seq(w, headers);
            }
            Response::HeaderProof { header, proof } => {
                w.write(&[2]);
                header.encode(w);
                proof.encode(w);
            }
            Response::StateProof {
                height,
                key,
                value,
                proof,
            } => {
                w.write(&[3]);
                height.encode(w);
                key.encode(w);
                match value {
                    None => w.write(&[0]),
                    Some(v) => {
                        w.write(&[1]);
                        write_bytes(w, v);
                    }
                }
                proof.encode(w);
            }
            Response::TransactionProof {
                height,
                leaf,
                proof,
            } => {
                w.write(&[4]);
                height.encode(w);
                leaf.encode(w);
                proof.encode(w);
            }
            Response::DagTransactionProof {
                height,
                anchor,
                record,
                anchor_proof,
                tx,
                tx_proof,
            } => {
                w.write(&[5]);
                height.encode(w);
                anchor.encode(w);
                record.encode(w);
                anchor_proof.encode(w);
                tx.encode(w);
                tx_proof.encode(w);
            }
            Response::Unavailable(req) => {
                w.write(&[6]);
                req.encode(w);
            }
        }
    }
}

impl<const N: usize> Decode for Response<N> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => Response::CertifiedHeader {
                header: BlockHeader::decode(r)?,
                certificate: CompactCommitCertificate::decode(r)?,
                validators: Option::decode(r)?,
                next_validators: Option::decode(r)?,
            },
            1 => Response::Headers(r.read_heapless_vec()?),
            2 => Response::HeaderProof {
                header: BlockHeader::decode(r)?,
                proof: MmrProof::decode(r)?,
            },
            3 => Response::StateProof {
                height: u64::decode(r)?,
                key: StateKey::decode(r)?,
                value: match r.read_u8()? {
                    0 => None,
                    1 => {
                        let bytes = r.read_bytes_prefixed(MAX_STATE_VALUE)?;
                        Some(heapless::Vec::from_slice(bytes).map_err(|()| {
                            DecodeError::LengthOverLimit {
                                len: bytes.len() as u64,
                                max: MAX_STATE_VALUE as u64,
                            }
                        })?)
                    }
                    tag => {
                        return Err(DecodeError::UnknownVariant {
                            type_name: "Option",
                            tag: u64::from(tag),
                        })
                    }
                },
                proof: StateProof::decode(r)?,
            },
            4 => Response::TransactionProof {
                height: u64::decode(r)?,
                leaf: Hash::decode(r)?,
                proof: InclusionProof::decode(r)?,
            },
            5 => Response::DagTransactionProof {
                height: u64::decode(r)?,
                anchor: u64::decode(r)?,
                record: AnchorRecord::decode(r)?,
                anchor_proof: StateProof::decode(r)?,
                tx: Hash::decode(r)?,
                tx_proof: InclusionProof::decode(r)?,
            },
            6 => Response::Unavailable(Request::decode(r)?),
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "Response",
                    tag: u64::from(tag),
                })
            }
        })
    }
}
