//! The other records under the state root: accounts, anchors, escrows, chain metadata and the
//! validator set. Each has one canonical encoding; its hash is what the tree commits to.

use itc_crypto::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::quorum::ValidatorSet;
use itc_crypto::Hash;

use crate::device::VendorId;

/// An ITC token account: balance in base units and the next nonce it must sign with.
///
/// `nonce` counts the account's executed transactions; a transaction must carry exactly this
/// value, so nonces strictly increase with no gaps and no replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Account {
    /// Balance in base units.
    pub balance: u64,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
}

impl Encode for Account {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.balance.encode(w);
        self.nonce.encode(w);
    }
    fn encoded_len(&self) -> usize {
        16
    }
}

impl Decode for Account {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Account {
            balance: u64::decode(r)?,
            nonce: u64::decode(r)?,
        })
    }
}

/// A DAG snapshot root committed by the main chain, stored under its anchor sequence so a
/// light client can prove "root R was anchored as sequence s".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorRecord {
    /// The tangle snapshot's root.
    pub snapshot_root: Hash,
    /// Main-chain height at which it was anchored.
    pub height: u64,
}

impl Encode for AnchorRecord {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.snapshot_root.encode(w);
        self.height.encode(w);
    }
    fn encoded_len(&self) -> usize {
        40
    }
}

impl Decode for AnchorRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AnchorRecord {
            snapshot_root: Hash::decode(r)?,
            height: u64::decode(r)?,
        })
    }
}

/// Tokens a vendor set aside for a chaincode plan's payouts.
///
/// Escrowed tokens belong to no account until `SettlePlan` pays them out exactly; a settled
/// plan keeps its record (`settled`, `held = 0`) so its id can never be funded or paid again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escrow {
    /// The vendor who funded it.
    pub vendor: VendorId,
    /// Tokens held.
    pub held: u64,
    /// True once paid out.
    pub settled: bool,
}

impl Encode for Escrow {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.vendor.encode(w);
        self.held.encode(w);
        self.settled.encode(w);
    }
    fn encoded_len(&self) -> usize {
        13
    }
}

impl Decode for Escrow {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let e = Escrow {
            vendor: VendorId::decode(r)?,
            held: u64::decode(r)?,
            settled: bool::decode(r)?,
        };
        if e.settled && e.held != 0 {
            return Err(DecodeError::NonCanonical {
                type_name: "Escrow",
            });
        }
        Ok(e)
    }
}

/// Chain-wide facts: which chain this is, its fixed token supply, the last executed height
/// and the last anchor sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainMeta {
    /// Separates chains (mainnet, testnets): signatures cover it.
    pub chain_id: u32,
    /// Total tokens, fixed at genesis: accounts plus escrows always sum to it.
    pub total_supply: u64,
    /// Height of the last executed batch (0 at genesis).
    pub height: u64,
    /// Sequence of the last DAG anchor, if any.
    pub last_anchor: Option<u64>,
}

impl Encode for ChainMeta {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.chain_id.encode(w);
        self.total_supply.encode(w);
        self.height.encode(w);
        self.last_anchor.encode(w);
    }
}

impl Decode for ChainMeta {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChainMeta {
            chain_id: u32::decode(r)?,
            total_supply: u64::decode(r)?,
            height: u64::decode(r)?,
            last_anchor: Option::<u64>::decode(r)?,
        })
    }
}

/// The current validator set and how many times it has changed.
///
/// `epoch` is what `SetValidators` must name (current + 1), so an old certificate for a change
/// can never be replayed, even if a set later returns to an earlier membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorRecord {
    /// Number of changes since genesis.
    pub epoch: u64,
    /// The set that authorises system transactions and signs blocks.
    pub set: ValidatorSet,
}

impl Encode for ValidatorRecord {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.epoch.encode(w);
        self.set.encode(w);
    }
}

impl Decode for ValidatorRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ValidatorRecord {
            epoch: u64::decode(r)?,
            set: ValidatorSet::decode(r)?,
        })
    }
}
