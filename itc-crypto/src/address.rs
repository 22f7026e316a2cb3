//! Account addresses: the last 20 bytes of Keccak-256 of a public key.

use core::fmt;

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{keccak256, Hash};
use crate::keys::PublicKey;

/// A 20-byte account address.
///
/// For protocol keys (x-only BIP340) it is the last 20 bytes of `Keccak-256(x)`; for ECDSA
/// interop keys see [`crate::ecdsa::EcdsaPublicKey::eth_address`] (Ethereum's rule).
///
/// ```
/// use itc_crypto::{Address, SecretKey};
/// let pk = SecretKey::from_bytes(&[1u8; 32]).unwrap().public_key();
/// let a = Address::from_public_key(&pk);
/// assert_eq!(&a.0[..], &itc_crypto::keccak256(pk.as_bytes()).0[12..]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The address of an x-only protocol public key.
    pub fn from_public_key(pk: &PublicKey) -> Self {
        Self::from_hash(&keccak256(pk.as_bytes()))
    }

    /// The last 20 bytes of a hash.
    pub fn from_hash(h: &Hash) -> Self {
        let mut a = [0u8; 20];
        a.copy_from_slice(h.0.get(12..).unwrap_or(&[0u8; 20]));
        Address(a)
    }
}

impl From<&PublicKey> for Address {
    fn from(pk: &PublicKey) -> Self {
        Address::from_public_key(pk)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Address(0x")?;
        crate::hex::write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        crate::hex::write_hex(f, &self.0)
    }
}

impl Encode for Address {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&self.0);
    }
    fn encoded_len(&self) -> usize {
        20
    }
}

impl Decode for Address {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Address(r.read_array()?))
    }
}
