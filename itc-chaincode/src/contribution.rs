//! What a device sends: a signed public header and a sealed payload.
//!
//! A [`Contribution`] has two parts:
//!
//! * the **header** — plan id, device key, payout address, number of records that matched, the
//!   digest of the sealed part and, for value aggregations, a Pedersen [`Commitment`] to the
//!   device's clamped value with a [`RangeProof`]. The device signs the header
//!   ([`CONTRIBUTION_TAG`]). The header is what may be recorded publicly: it reveals no record
//!   and no value, yet anyone can check that the committed value is inside the plan's range.
//! * the **sealed payload** — the sketch itself (HLL registers, histogram counts, the
//!   randomized-response bits, or the commitment's opening) and a random noise share. Sketches
//!   of a few users leak membership (Desfontaines, Lochbihler & Basin 2018), so the sealed part
//!   is raw data: only the aggregator (the validators) reads it, it is bound to the header by
//!   [`SEALED_TAG`] hash, and it is never released to the vendor.
//!
//! ```
//! use itc_chaincode::contribution::{Contribution, Sealed, Payload};
//! use itc_crypto::Decode;
//! // Decoding untrusted bytes never panics; garbage is a typed error.
//! assert!(Contribution::decode_bytes(&[0u8; 10]).is_err());
//! ```

use alloc::vec::Vec;

use itc_crypto::encoding::{write_varint, Decode, DecodeError, Encode, Reader, Writer};
use itc_crypto::hash::{hash_encoded, DomainTag, Hash};
use itc_crypto::{Address, CryptoError, PublicKey, Signature, Signer};

use crate::hll::HyperLogLog;
use crate::pedersen::{Commitment, Opening};
use crate::plan::PlanId;
use crate::range_proof::RangeProof;

/// Tag of the device's signature over a contribution header.
pub const CONTRIBUTION_TAG: DomainTag = DomainTag::new(b"itc/chaincode/contribution/v1");
/// Tag binding the sealed payload to the header.
pub const SEALED_TAG: DomainTag = DomainTag::new(b"itc/chaincode/sealed/v1");
/// Most histogram buckets a payload may carry on the wire.
pub const MAX_WIRE_BUCKETS: usize = 1024;
const WIRE_VERSION: u8 = 1;

/// A commitment to the device's clamped value and the proof that it is in range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueProof {
    /// `C = u·G + r·H`, `u` = clamped value − range start.
    pub commitment: Commitment,
    /// `u ∈ [0, 2^bits)`.
    pub range: RangeProof,
}

/// The signed, publishable part of a contribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContributionHeader {
    /// The plan answered.
    pub plan: PlanId,
    /// The device's key (one contribution per key).
    pub device: PublicKey,
    /// Where the reward goes.
    pub payout_to: Address,
    /// Records that matched the filter (capped by the plan): the payout weight.
    pub matched: u32,
    /// Hash of the sealed payload.
    pub sealed_digest: Hash,
    /// Commitment and range proof, for count/sum/mean plans.
    pub value: Option<ValueProof>,
}

impl ContributionHeader {
    /// The context every proof in this contribution is bound to: plan id ‖ device key, so a
    /// proof cannot be replayed by another device or for another plan.
    pub fn proof_context(plan: &PlanId, device: &PublicKey) -> [u8; 64] {
        let mut ctx = [0u8; 64];
        for (dst, src) in ctx
            .iter_mut()
            .zip(plan.0.as_bytes().iter().chain(device.as_bytes()))
        {
            *dst = *src;
        }
        ctx
    }
}

/// The per-device sketch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Opening of the header's commitment (count, sum, mean).
    Value(Opening),
    /// HyperLogLog of the matching records' keys.
    Distinct(HyperLogLog),
    /// Per-bucket counts of matching records.
    Histogram(Vec<u32>),
    /// Randomized-response bits, bit `i` for candidate `i`.
    Membership(u32),
}

/// The sealed part: raw data, for the aggregator's eyes only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The sketch.
    pub payload: Payload,
    /// Fresh device randomness mixed into the release noise seed, so the seed is unknown to
    /// anyone who has not seen the sealed payloads (see [`crate::aggregator`]).
    pub noise_share: [u8; 32],
}

impl Sealed {
    /// The digest the header carries.
    pub fn digest(&self) -> Hash {
        hash_encoded(SEALED_TAG, self)
    }
}

/// A device's signed answer to a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution {
    /// Public part.
    pub header: ContributionHeader,
    /// Sealed part.
    pub sealed: Sealed,
    /// The device's signature over the header.
    pub signature: Signature,
}

impl Contribution {
    /// Signs `header` (whose `sealed_digest` must be `sealed.digest()`) with the device key.
    ///
    /// ```
    /// use itc_chaincode::contribution::{Contribution, ContributionHeader, Payload, Sealed};
    /// use itc_chaincode::plan::PlanId;
    /// use itc_crypto::{Address, Hash, SecretKey};
    /// let key = SecretKey::from_bytes(&[5; 32]).unwrap();
    /// let sealed = Sealed { payload: Payload::Membership(0b10), noise_share: [9; 32] };
    /// let header = ContributionHeader {
    ///     plan: PlanId(Hash::ZERO), device: key.public_key(), payout_to: Address([1; 20]),
    ///     matched: 2, sealed_digest: sealed.digest(), value: None,
    /// };
    /// let mut c = Contribution::sign(header, sealed, &key).unwrap();
    /// assert!(c.verify_signature().is_ok());
    /// c.header.matched = 3; // inflating the payout weight breaks the signature
    /// assert!(c.verify_signature().is_err());
    /// ```
    pub fn sign<S: Signer + ?Sized>(
        header: ContributionHeader,
        sealed: Sealed,
        signer: &S,
    ) -> Result<Self, CryptoError> {
        let signature = signer.sign(CONTRIBUTION_TAG, &header.encode_to_vec())?;
        Ok(Contribution {
            header,
            sealed,
            signature,
        })
    }

    /// Checks the device signature over the header.
    pub fn verify_signature(&self) -> Result<(), CryptoError> {
        self.header.device.verify(
            CONTRIBUTION_TAG,
            &self.header.encode_to_vec(),
            &self.signature,
        )
    }

    /// The digest under which validators record the contribution (header only: the sealed
    /// part is bound through `sealed_digest`).
    pub fn id(&self) -> Hash {
        hash_encoded(CONTRIBUTION_TAG, &self.header)
    }
}

impl Encode for ValueProof {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.commitment.encode(w);
        self.range.encode(w);
    }
}

impl Decode for ValueProof {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ValueProof {
            commitment: Commitment::decode(r)?,
            range: RangeProof::decode(r)?,
        })
    }
}

impl Encode for ContributionHeader {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[WIRE_VERSION]);
        self.plan.encode(w);
        self.device.encode(w);
        self.payout_to.encode(w);
        self.matched.encode(w);
        self.sealed_digest.encode(w);
        self.value.encode(w);
    }
}

impl Decode for ContributionHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.read_u8()?;
        if v != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                type_name: "ContributionHeader",
                found: u64::from(v),
            });
        }
        Ok(ContributionHeader {
            plan: PlanId::decode(r)?,
            device: PublicKey::decode(r)?,
            payout_to: Address::decode(r)?,
            matched: u32::decode(r)?,
            sealed_digest: Hash::decode(r)?,
            value: Option::<ValueProof>::decode(r)?,
        })
    }
}

impl Encode for Payload {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            Payload::Value(o) => {
                w.write(&[0]);
                o.encode(w);
            }
            Payload::Distinct(h) => {
                w.write(&[1]);
                h.encode(w);
            }
            Payload::Histogram(b) => {
                w.write(&[2]);
                write_varint(w, b.len() as u64);
                for c in b {
                    c.encode(w);
                }
            }
            Payload::Membership(bits) => {
                w.write(&[3]);
                bits.encode(w);
            }
        }
    }
}

impl Decode for Payload {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.read_u8()? {
            0 => Payload::Value(Opening::decode(r)?),
            1 => Payload::Distinct(HyperLogLog::decode(r)?),
            2 => {
                let n = r.read_count(MAX_WIRE_BUCKETS, 4)?;
                let mut b = Vec::with_capacity(n);
                for _ in 0..n {
                    b.push(u32::decode(r)?);
                }
                Payload::Histogram(b)
            }
            3 => Payload::Membership(u32::decode(r)?),
            tag => {
                return Err(DecodeError::UnknownVariant {
                    type_name: "Payload",
                    tag: u64::from(tag),
                })
            }
        })
    }
}

impl Encode for Sealed {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.payload.encode(w);
        self.noise_share.encode(w);
    }
}

impl Decode for Sealed {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Sealed {
            payload: Payload::decode(r)?,
            noise_share: r.read_array()?,
        })
    }
}

impl Encode for Contribution {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        self.header.encode(w);
        self.sealed.encode(w);
        self.signature.encode(w);
    }
}

impl Decode for Contribution {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Contribution {
            header: ContributionHeader::decode(r)?,
            sealed: Sealed::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}
