//! The one place the replica signs and checks signatures.
//!
//! Routing every signature operation through here lets benches measure what the protocol's
//! bookkeeping costs *without* the signatures: when the crate is compiled with
//! `RUSTFLAGS="--cfg itc_pbft_insecure_no_sig"`, signing returns an all-zero signature and every
//! check passes. That switch is a compiler `cfg`, not a Cargo feature, on purpose: features are
//! unified across a workspace build, so a feature enabled by the bench crate could silently
//! leak into the node binary built in the same `cargo build`; a `--cfg` only exists when
//! someone types it into `RUSTFLAGS` for that build. [`SIGNATURE_CHECKS_ENABLED`] reports which
//! build you have, and a normal build can never turn the checks off.
//!
//! Every check also bumps a counter ([`SigStats`]) so benches can split CPU time between
//! signature work and the rest.

use itc_crypto::{CryptoError, Hash, PublicKey, Signature, Signer};

/// False only in a build made with `--cfg itc_pbft_insecure_no_sig` (benches only).
pub const SIGNATURE_CHECKS_ENABLED: bool = !cfg!(itc_pbft_insecure_no_sig);

/// Counts of signature operations a replica performed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigStats {
    /// Signatures produced.
    pub signed: u64,
    /// Signatures checked.
    pub verified: u64,
}

impl SigStats {
    pub(crate) fn sign<S: Signer + ?Sized>(
        &mut self,
        signer: &S,
        digest: &Hash,
    ) -> Result<Signature, CryptoError> {
        self.signed = self.signed.saturating_add(1);
        if SIGNATURE_CHECKS_ENABLED {
            signer.sign_digest(digest)
        } else {
            Ok(Signature([0u8; 64]))
        }
    }

    pub(crate) fn verify(&mut self, key: &PublicKey, digest: &Hash, sig: &Signature) -> bool {
        self.verified = self.verified.saturating_add(1);
        if SIGNATURE_CHECKS_ENABLED {
            key.verify_digest(digest, sig).is_ok()
        } else {
            true
        }
    }
}
