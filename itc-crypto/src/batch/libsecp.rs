//! The libsecp256k1 backend (feature `libsecp256k1`, hosts only): Bitcoin Core's C library via
//! the `secp256k1` crate, for full nodes that want the fastest single verification available.
//! Same answers as the k256 paths on every BIP340 vector (tests run both).

use k256::elliptic_curve::sec1::ToEncodedPoint;
use secp256k1::{schnorr, Message, Secp256k1, VerifyOnly, XOnlyPublicKey};

use super::ItemRef;

/// A verification-only libsecp256k1 context (explicit, not the global one: creating it is a
/// small allocation, and no randomisation is needed to verify).
pub(crate) struct Libsecp {
    ctx: Secp256k1<VerifyOnly>,
}

impl Libsecp {
    pub(crate) fn new() -> Self {
        Libsecp {
            ctx: Secp256k1::verification_only(),
        }
    }

    /// Verifies one item. libsecp256k1 0.29's API takes 32-byte messages only (every protocol
    /// digest is one); any other length — BIP340 allows them — is verified by k256.
    pub(crate) fn verify(&self, item: &ItemRef<'_>) -> bool {
        let Ok(msg) = <[u8; 32]>::try_from(item.message) else {
            return item
                .public_key
                .verify_raw(item.message, item.signature)
                .is_ok();
        };
        let (Some(pk), Ok(sig)) = (
            xonly(item.public_key),
            schnorr::Signature::from_slice(item.signature.as_bytes()),
        ) else {
            return false;
        };
        self.ctx
            .verify_schnorr(&sig, &Message::from_digest(msg), &pk)
            .is_ok()
    }
}

/// Hands libsecp256k1 the key as the full point we already hold: parsing the uncompressed
/// form checks `y² = x³ + 7` with a few multiplications, where parsing the x-only bytes would
/// recompute y with a square root (~10% of a verification).
fn xonly(pk: &crate::PublicKey) -> Option<XOnlyPublicKey> {
    let enc = pk.as_affine().to_encoded_point(false);
    let full = secp256k1::PublicKey::from_slice(enc.as_bytes()).ok()?;
    Some(full.x_only_public_key().0)
}
