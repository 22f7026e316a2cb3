//! # itc-crypto
//!
//! The foundation every IoT Chain crate stands on. It owns the few primitives that must be
//! identical everywhere, so no other crate ever re-implements them:
//!
//! * [`hash`] — the 32-byte [`Hash`](struct@Hash) newtype, Keccak-256 and SHA3-256, and **domain-separated**
//!   hashing ([`DomainTag`], [`tagged_hash`]): every structure that is hashed names its tag, so two
//!   different structures can never hash alike by accident.
//! * [`keys`] — secp256k1 keys: BIP340 Schnorr is the protocol signature ([`PublicKey`] is x-only,
//!   [`Signature`] is 64 bytes) and ECDSA with public-key recovery ([`ecdsa`]) exists for interop.
//!   Signing goes through the [`Signer`] trait so a secure element or HSM can hold the key.
//! * [`ecdh`] — x-only Diffie–Hellman ([`ecdh::KeyAgreement`], `k256`'s scalar multiplication):
//!   the shared secret a session key is derived from (`itc-device-sdk`'s command sessions).
//! * [`batch`] — batch verification of BIP340 signatures ([`verify_all`]): one multi-scalar
//!   multiplication for a whole certificate or backlog, bisection to name the bad ones, a
//!   [`VerifiedCache`] so the same bytes are never checked twice, and an optional
//!   libsecp256k1 backend (feature `libsecp256k1`, hosts only).
//! * [`blame`] — [`Blame`]: who must act on a refused input (peer, nobody, integrator); every
//!   crate's errors answer `blame()`.
//! * [`address`] — [`Address`]: the last 20 bytes of Keccak-256 of a public key.
//! * [`merkle`] — an RFC 6962-shaped binary Merkle tree (no duplicated last leaf, so no
//!   CVE-2012-2459) with bounded, canonically encoded [`InclusionProof`]s.
//! * [`point`] — the one canonical decoding of a curve point (compressed SEC1), shared by
//!   every crate that reads points from the wire.
//! * [`encoding`] — the one canonical byte encoding ([`Encode`] / [`Decode`]) used for everything
//!   hashed or signed. Decoding is strict: trailing bytes, overlong lengths and non-canonical forms
//!   are typed errors, and every length is checked against a limit before anything is allocated.
//!
//! * `serde_impl` (feature `serde`) — how these values look in JSON: by their canonical
//!   encoding (hex), decoded with every check [`Decode`] makes.
//!
//! The crate is `#![no_std]`; verification paths need no allocator. Feature `alloc` adds owned
//! trees and growable buffers, `std` (default) adds k256's precomputed tables for speed on hosts.
//!
//! ```
//! use itc_crypto::{DomainTag, SecretKey, Signer};
//!
//! const GREETING: DomainTag = DomainTag::new(b"itc/example/greeting/v1");
//! let key = SecretKey::from_bytes(&[7u8; 32]).unwrap();
//! let sig = key.sign(GREETING, b"hello lamp").unwrap();
//! assert!(key.public_key().verify(GREETING, b"hello lamp", &sig).is_ok());
//! // The same bytes under another tag do not verify: no cross-protocol replay.
//! const OTHER: DomainTag = DomainTag::new(b"itc/example/other/v1");
//! assert!(key.public_key().verify(OTHER, b"hello lamp", &sig).is_err());
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod address;
pub mod batch;
pub mod blame;
pub mod ecdh;
pub mod ecdsa;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod hex;
pub mod keys;
pub mod merkle;
pub mod point;
pub mod quorum;
#[cfg(feature = "serde")]
pub mod serde_impl;

#[cfg(feature = "serde")]
#[doc(hidden)]
pub use serde as __serde;

pub use address::Address;
pub use batch::{verify_all, BatchError, BatchItem, VerifiedCache};
pub use blame::Blame;
pub use encoding::{Decode, DecodeError, Encode, Reader, Writer};
pub use error::CryptoError;
pub use hash::{keccak256, sha3_256, tagged_hash, DomainTag, Hash, TaggedHasher};
pub use keys::{PublicKey, SecretKey, Signature, Signer};
#[cfg(feature = "alloc")]
pub use merkle::MerkleTree;
pub use merkle::{merkle_root, InclusionProof, MerkleError};
pub use quorum::{QuorumCertificate, QuorumError, Threshold, Validator, ValidatorSet};
