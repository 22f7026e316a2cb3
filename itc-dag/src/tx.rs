//! Transactions: what a device issues into the tangle, and its one canonical encoding.
//!
//! ```text
//! Transaction = version u8 ‖ difficulty u8 ‖ parents (varint 2..=8, ids sorted, distinct)
//!             ‖ issuer (32, x-only key) ‖ sequence u64 ‖ timestamp u64 (ms) ‖ payload
//!             ‖ nonce u64 ‖ signature (64)
//! Payload     = 0 ‖ Data(bytes ≤ MAX_DATA) | 1 ‖ Transfer(to 20, amount u64, spend_nonce u64)
//!             | 2 ‖ Anchor(snapshot_seq u64, snapshot_root 32, chain_height u64)
//! ```
//!
//! Everything before the nonce is the **essence**. Its hash, [`Transaction::essence_hash`], is
//! what proof of work and signature bind to: PoW is one Keccak over `essence_hash ‖ nonce`
//! ([`crate::pow`]), and the issuer signs the same 40 bytes, so a device first grinds the nonce and
//! then signs once. The [`TxId`] hashes the whole encoding, signature included.
//!
//! The `difficulty` byte is the work the issuer *claims*; the PoW must meet it and the issuer
//! policy decides whether it is enough and how much weight it buys. Declaring it (rather than
//! reading the achieved leading zeros) keeps weight independent of lucky hashes.

use core::fmt;

use itc_crypto::encoding::{
    write_bytes, write_varint, Decode, DecodeError, Encode, Reader, Writer,
};
use itc_crypto::hash::{hash_encoded, DomainTag, Hash};
use itc_crypto::{Address, PublicKey, Signature};

use crate::error::DagError;
use crate::pow;

/// Transaction format version this crate speaks.
pub const TX_VERSION: u8 = 1;
/// Fewest parents a transaction approves: two, so the tangle keeps merging instead of forming chains.
pub const MIN_PARENTS: usize = 2;
/// Most parents a transaction approves (bounds validation work and tx size).
pub const MAX_PARENTS: usize = 8;
/// Largest `Data` payload in bytes: a telemetry record, not a file.
pub const MAX_DATA: usize = 256;
/// Upper bound on the encoded size of any valid transaction; longer input is refused unread.
pub const MAX_TX_BYTES: usize = 2 + 1 + MAX_PARENTS * 32 + 32 + 8 + 8 + 1 + 2 + MAX_DATA + 8 + 64;

/// Tag of [`TxId`]: hash of the complete encoding.
pub const TX_ID_TAG: DomainTag = DomainTag::new(b"itc/dag/tx/v1");
/// Tag of the essence hash (everything the nonce and signature bind to).
pub const ESSENCE_TAG: DomainTag = DomainTag::new(b"itc/dag/tx-essence/v1");
/// Tag under which issuers sign `essence_hash ‖ nonce`.
pub const SIGNATURE_TAG: DomainTag = DomainTag::new(b"itc/dag/tx-signature/v1");

/// The identity of a transaction: domain-separated Keccak-256 of its canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TxId(pub Hash);

impl TxId {
    /// The raw 32 bytes (also the Merkle leaf bytes in snapshots: `leaf_hash(id.as_bytes())`).
    pub const fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits are enough to tell transactions apart in logs and test output.
        f.write_str("TxId(")?;
        for b in self.0 .0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Encode for TxId {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.0.encode(w);
    }
    fn encoded_len(&self) -> usize {
        32
    }
}

impl Decode for TxId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxId(Hash::decode(r)?))
    }
}

/// The approved parents: 2–8 distinct ids in ascending order (the only canonical order).
pub type Parents = heapless::Vec<TxId, MAX_PARENTS>;

/// Sorts and checks a parent list: 2..=8 entries, no duplicates.
pub(crate) fn canonical_parents(ids: &[TxId]) -> Result<Parents, DagError> {
    if !(MIN_PARENTS..=MAX_PARENTS).contains(&ids.len()) {
        return Err(DagError::ParentCount { count: ids.len() });
    }
    let mut out = Parents::new();
    for id in ids {
        out.push(*id)
            .map_err(|_| DagError::ParentCount { count: ids.len() })?;
    }
    out.sort_unstable();
    for pair in out.windows(2) {
        if let [a, b] = pair {
            if a == b {
                return Err(DagError::DuplicateParent(*a));
            }
        }
    }
    Ok(out)
}

/// A token transfer from the issuer's address.
///
/// Funds are an account balance; `spend_nonce` names *which* spend of that account this is.
/// Two transfers from the same address with the same `spend_nonce` are a double spend: at most
/// one of them is ever confirmed (the first rival whose approving weight crosses the threshold
/// wins, an anchor overrides, losers and their future cones are `Conflicting` for good). When
/// finalised, a transfer moves funds only if `spend_nonce` is the account's next nonce and the balance covers `amount`; otherwise it
/// is final but void (it still approved its parents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// Recipient.
    pub to: Address,
    /// Amount in base units (non-zero).
    pub amount: u64,
    /// Which spend of the sender's account this is (0, 1, 2, …).
    pub spend_nonce: u64,
}

/// A notice, published into the tangle by an anchoring gateway, that the main chain committed
/// a DAG snapshot, so devices (and light clients following the DAG) see it in-band.
///
/// It states the same fact as the main chain's ledger entry `StateKey::Anchor(snapshot_seq)
/// → itc_ledger::AnchorRecord { snapshot_root, height }` (written by the `AnchorDag { sequence,
/// snapshot_root }` system call): `snapshot_seq` is that key's sequence, `snapshot_root` the
/// record's root and `chain_height` its `height`. The notice is only a pointer: what proves
/// the anchor is the ledger entry with its state proof, never this payload (any gateway the
/// policy lets anchor can publish one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnchorNotice {
    /// The snapshot's sequence ([`crate::DagSnapshot::snapshot_seq`]).
    pub snapshot_seq: u64,
    /// [`crate::DagSnapshot::root`] as committed on the main chain.
    pub snapshot_root: Hash,
    /// Main-chain height of the block that committed it.
    pub chain_height: u64,
}

/// What a transaction carries.
// The data buffer is inline on purpose: devices build transactions without an allocator.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Opaque bytes (telemetry), at most [`MAX_DATA`].
    Data(heapless::Vec<u8, MAX_DATA>),
    /// ITC tokens to another address.
    Transfer(Transfer),
    /// A notice of a main-chain anchor.
    Anchor(AnchorNotice),
}

impl Payload {
    /// A `Data` payload, or `Oversized` if `bytes` is longer than [`MAX_DATA`].
    pub fn data(bytes: &[u8]) -> Result<Self, DagError> {
        heapless::Vec::from_slice(bytes)
            .map(Payload::Data)
            .map_err(|()| DagError::Oversized {
                len: bytes.len(),
                max: MAX_DATA,
            })
    }

    /// The transfer, if this is one.
    pub fn as_transfer(&self) -> Option<&Transfer> {
        match self {
            Payload::Transfer(t) => Some(t),
            _ => None,
        }
    }
}

impl Encode for Payload {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            Payload::Data(d) => {
                w.write(&[0]);
                write_bytes(w, d);
            }
            Payload::Transfer(t) => {
                w.write(&[1]);
                t.to.encode(w);
                t.amount.encode(w);
                t.spend_nonce.encode(w);
            }
            Payload::Anchor(a) => {
                w.write(&[2]);
                a.snapshot_seq.encode(w);
                a.snapshot_root.encode(w);
                a.chain_height.encode(w);
            }
        }
    }
}

impl Decode for Payload {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_u8()? {
            0 => {
                let bytes = r.read_bytes_prefixed(MAX_DATA)?;
                heapless::Vec::from_slice(bytes)
                    .map(Payload::Data)
                    .map_err(|()| DecodeError::LengthOverLimit {
                        len: bytes.len() as u64,
                        max: MAX_DATA as u64,
                    })
            }
            1 => Ok(Payload::Transfer(Transfer {
                to: Address::decode(r)?,
                amount: u64::decode(r)?,
                spend_nonce: u64::decode(r)?,
            })),
            2 => Ok(Payload::Anchor(AnchorNotice {
                snapshot_seq: u64::decode(r)?,
                snapshot_root: Hash::decode(r)?,
                chain_height: u64::decode(r)?,
            })),
            tag => Err(DecodeError::UnknownVariant {
                type_name: "Payload",
                tag: u64::from(tag),
            }),
        }
    }
}

/// Everything the issuer commits to before proof of work: the transaction minus nonce and
/// signature. Built with [`crate::TransactionBuilder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Essence {
    pub(crate) version: u8,
    pub(crate) difficulty: u8,
    pub(crate) parents: Parents,
    pub(crate) issuer: PublicKey,
    pub(crate) sequence: u64,
    pub(crate) timestamp: u64,
    pub(crate) payload: Payload,
}

impl Essence {
    /// `hash_encoded(ESSENCE_TAG, essence)`: what the nonce and the signature bind to.
    pub fn hash(&self) -> Hash {
        hash_encoded(ESSENCE_TAG, self)
    }
}

impl Encode for Essence {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[self.version, self.difficulty]);
        write_varint(w, self.parents.len() as u64);
        for p in &self.parents {
            p.encode(w);
        }
        self.issuer.encode(w);
        self.sequence.encode(w);
        self.timestamp.encode(w);
        self.payload.encode(w);
    }
}

impl Decode for Essence {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.read_u8()?;
        if version != TX_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                type_name: "Transaction",
                found: u64::from(version),
            });
        }
        let difficulty = r.read_u8()?;
        let count = r.read_count(MAX_PARENTS, 32)?;
        if count < MIN_PARENTS {
            return Err(DecodeError::NonCanonical {
                type_name: "Transaction.parents",
            });
        }
        let mut parents = Parents::new();
        for _ in 0..count {
            let id = TxId::decode(r)?;
            // Strictly ascending: sorted and distinct, so exactly one encoding per parent set.
            if parents.last().is_some_and(|prev| *prev >= id) {
                return Err(DecodeError::NonCanonical {
                    type_name: "Transaction.parents",
                });
            }
            parents.push(id).map_err(|_| DecodeError::LengthOverLimit {
                len: count as u64,
                max: MAX_PARENTS as u64,
            })?;
        }
        Ok(Essence {
            version,
            difficulty,
            parents,
            issuer: PublicKey::decode(r)?,
            sequence: u64::decode(r)?,
            timestamp: u64::decode(r)?,
            payload: Payload::decode(r)?,
        })
    }
}

/// A complete, signed tangle transaction. Construct with [`crate::TransactionBuilder`] or
/// [`Transaction::from_bytes`]; both guarantee canonical parents and bounded payload.
///
/// ```
/// use itc_dag::{Payload, Transaction, TransactionBuilder, TxId};
/// use itc_crypto::{Hash, SecretKey};
///
/// let key = SecretKey::from_bytes(&[7u8; 32]).unwrap();
/// let parents = [TxId(Hash([1; 32])), TxId(Hash([2; 32]))];
/// let mut b = TransactionBuilder::new(key.public_key(), 0, 1_000)
///     .parents(&parents).unwrap()
///     .payload(Payload::data(b"21.5C").unwrap());
/// b.solve_pow(4, 0, 1 << 16).unwrap();
/// let tx = b.sign(&key).unwrap();
/// let bytes = tx.to_bytes();
/// assert_eq!(Transaction::from_bytes(&bytes).unwrap(), tx);
/// assert!(tx.verify_pow().is_ok() && tx.verify_signature().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub(crate) essence: Essence,
    pub(crate) nonce: u64,
    pub(crate) signature: Signature,
}

impl Transaction {
    /// Format version.
    pub fn version(&self) -> u8 {
        self.essence.version
    }
    /// Declared proof-of-work difficulty (leading zero bits).
    pub fn difficulty(&self) -> u8 {
        self.essence.difficulty
    }
    /// Approved parents, ascending.
    pub fn parents(&self) -> &[TxId] {
        &self.essence.parents
    }
    /// Issuer's x-only public key.
    pub fn issuer(&self) -> &PublicKey {
        &self.essence.issuer
    }
    /// Issuer's address (where transfers are debited).
    pub fn issuer_address(&self) -> Address {
        Address::from_public_key(&self.essence.issuer)
    }
    /// Per-issuer sequence number (strictly increasing per issuer).
    pub fn sequence(&self) -> u64 {
        self.essence.sequence
    }
    /// Issuer's timestamp, milliseconds.
    pub fn timestamp(&self) -> u64 {
        self.essence.timestamp
    }
    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.essence.payload
    }
    /// The PoW nonce.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
    /// The Schnorr signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
    /// The essence (everything but nonce and signature).
    pub fn essence(&self) -> &Essence {
        &self.essence
    }
    /// Hash of the essence (recomputed; cache it if you call this in a loop).
    pub fn essence_hash(&self) -> Hash {
        self.essence.hash()
    }

    /// The transaction id: `hash_encoded(TX_ID_TAG, tx)`.
    pub fn id(&self) -> TxId {
        TxId(hash_encoded(TX_ID_TAG, self))
    }

    /// Checks the declared PoW: one Keccak over `essence_hash ‖ nonce`.
    pub fn verify_pow(&self) -> Result<(), DagError> {
        pow::check(&self.essence_hash(), self.nonce, self.essence.difficulty)
    }

    /// Checks the issuer's signature over `essence_hash ‖ nonce`.
    pub fn verify_signature(&self) -> Result<(), DagError> {
        let msg = signed_message(&self.essence_hash(), self.nonce);
        self.essence
            .issuer
            .verify(SIGNATURE_TAG, &msg, &self.signature)
            .map_err(|_| DagError::InvalidSignature)
    }

    /// Payload rules that the type system does not already enforce.
    pub fn check_semantics(&self) -> Result<(), DagError> {
        if let Payload::Transfer(t) = &self.essence.payload {
            if t.amount == 0 {
                return Err(DagError::ZeroAmount);
            }
            if t.to == self.issuer_address() {
                return Err(DagError::TransferToSelf);
            }
        }
        Ok(())
    }

    /// Decodes untrusted bytes: refuses anything longer than [`MAX_TX_BYTES`] unread, then
    /// requires the canonical encoding with no trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DagError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(DagError::Oversized {
                len: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        Ok(Self::decode_bytes(bytes)?)
    }

    /// Encodes into a fixed buffer (no allocator), returning the written prefix.
    pub fn encode_into<'a>(&self, buf: &'a mut [u8; MAX_TX_BYTES]) -> &'a [u8] {
        let mut w = itc_crypto::encoding::SliceWriter::new(buf);
        self.encode(&mut w);
        // MAX_TX_BYTES bounds every encoding, so this never falls back.
        w.finish().unwrap_or(&[])
    }

    /// The canonical encoding.
    #[cfg(feature = "alloc")]
    pub fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        self.encode_to_vec()
    }
}

/// The 40 bytes an issuer signs: `essence_hash ‖ nonce (big-endian)`.
pub(crate) fn signed_message(essence_hash: &Hash, nonce: u64) -> [u8; 40] {
    let mut m = [0u8; 40];
    let (h, n) = m.split_at_mut(32);
    h.copy_from_slice(essence_hash.as_bytes());
    n.copy_from_slice(&nonce.to_be_bytes());
    m
}

impl Encode for Transaction {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.essence.encode(w);
        self.nonce.encode(w);
        self.signature.encode(w);
    }
}

impl Decode for Transaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transaction {
            essence: Essence::decode(r)?,
            nonce: u64::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}
