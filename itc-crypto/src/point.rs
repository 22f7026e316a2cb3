//! The one canonical decoding of a secp256k1 point: compressed SEC1, 33 bytes, tag `0x02` or
//! `0x03`, on the curve, not the identity.
//!
//! k256 alone also accepts tag `0x05` ("compact" points), which would give one point two
//! encodings and so two hashes; every crate that reads a point from the wire (ECDSA keys here,
//! Pedersen commitments and range proofs in `itc-chaincode`) goes through this function, so the
//! rule is fixed once (fuzzing found the same gap in two hand-written copies).
//!
//! ```
//! use itc_crypto::point::decode_compressed;
//! use k256::elliptic_curve::sec1::ToEncodedPoint;
//!
//! let g = k256::AffinePoint::GENERATOR.to_encoded_point(true);
//! let bytes: [u8; 33] = g.as_bytes().try_into().unwrap();
//! assert_eq!(decode_compressed(&bytes, "point").unwrap(), k256::AffinePoint::GENERATOR);
//! let mut compact = bytes;
//! compact[0] = 0x05;
//! assert!(decode_compressed(&compact, "point").is_err());
//! ```

use k256::elliptic_curve::group::GroupEncoding;
use k256::AffinePoint;

use crate::encoding::DecodeError;

/// Decodes a canonical compressed point; anything else is [`DecodeError::NonCanonical`] naming
/// `type_name` (the wire type being decoded).
pub fn decode_compressed(
    bytes: &[u8; 33],
    type_name: &'static str,
) -> Result<AffinePoint, DecodeError> {
    if !matches!(bytes.first(), Some(0x02 | 0x03)) {
        return Err(DecodeError::NonCanonical { type_name });
    }
    let mut enc = k256::CompressedPoint::default();
    enc.copy_from_slice(bytes);
    let p: Option<AffinePoint> = AffinePoint::from_bytes(&enc).into();
    match p {
        Some(p) if p != AffinePoint::IDENTITY => Ok(p),
        _ => Err(DecodeError::NonCanonical { type_name }),
    }
}
