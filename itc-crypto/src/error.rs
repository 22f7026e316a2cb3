//! Errors of key handling and signature checks.

/// What went wrong with a key or a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The 32 bytes are not a valid secret scalar (zero or not below the group order).
    #[error("secret key is zero or not below the curve order")]
    InvalidSecretKey,
    /// The bytes are not the x coordinate of a point on secp256k1 (or not a valid SEC1 key).
    #[error("public key is not a point on secp256k1")]
    InvalidPublicKey,
    /// The signature bytes are malformed (r not a field element, s not below the order).
    #[error("signature encoding is malformed")]
    MalformedSignature,
    /// The signature is well formed but does not verify for this key and message.
    #[error("signature does not verify")]
    InvalidSignature,
    /// An ECDSA signature with `s` in the upper half of the order. It is the malleated twin of
    /// a valid low-S signature, so it is refused by policy (BIP 62 / EIP-2), not as a forgery:
    /// a caller can tell "re-encode as low-S" from "not signed by this key".
    #[error("ECDSA signature has a high S value (malleable form refused)")]
    HighS,
    /// The ECDSA recovery id is not 0..=3 or recovery found no key.
    #[error("ECDSA public-key recovery failed")]
    RecoveryFailed,
    /// The signer (in-memory key, secure element, HSM) could not produce a signature.
    #[error("signer failed to produce a signature")]
    SigningFailed,
}
