//! Keyed SipHash for sketch inputs.
//!
//! Sketches (HyperLogLog registers, Bloom bits) must not be steerable by whoever picks the
//! inputs: with a public hash a vendor could precompute which device identifier lands in which
//! register, or aim Bloom collisions. Every sketch therefore hashes its inputs with a 128-bit
//! **per-plan key** ([`SketchKey`], derived from the plan id and the activation beacon, see
//! [`crate::plan::ValidPlan::sketch_key`]).
//!
//! Why SipHash and not Keccak: a sketch insert must cost nanoseconds (one Keccak-256 call is
//! ~250 ns), and SipHash is a keyed PRF designed exactly for short inputs under an adversary who
//! does not know the key (Aumasson & Bernstein 2012). We use SipHash-1-3, the variant Rust's
//! standard `HashMap` uses, and test the shared round function against the SipHash-2-4
//! reference vectors. Output is defined on bytes (little-endian words as in the paper), so it is
//! identical on every platform.

/// A 128-bit SipHash key, specific to one plan.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SketchKey {
    k0: u64,
    k1: u64,
}

impl SketchKey {
    /// Builds a key from 16 bytes (little-endian halves, as in the SipHash paper).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(bytes.get(..8).unwrap_or(&[0u8; 8]));
        b.copy_from_slice(bytes.get(8..).unwrap_or(&[0u8; 8]));
        SketchKey {
            k0: u64::from_le_bytes(a),
            k1: u64::from_le_bytes(b),
        }
    }

    /// SipHash-1-3 of `data` under this key: the hash every sketch uses.
    ///
    /// ```
    /// use itc_chaincode::siphash::SketchKey;
    /// let k = SketchKey::from_bytes([7u8; 16]);
    /// assert_eq!(k.hash(b"lamp-17"), k.hash(b"lamp-17"));
    /// assert_ne!(k.hash(b"lamp-17"), SketchKey::from_bytes([8u8; 16]).hash(b"lamp-17"));
    /// ```
    #[inline]
    pub fn hash(&self, data: &[u8]) -> u64 {
        siphash::<1, 3>(self.k0, self.k1, data)
    }

    /// A second, independent hash (a derived key), for structures that need two.
    #[inline]
    pub fn hash2(&self, data: &[u8]) -> u64 {
        siphash::<1, 3>(
            self.k0 ^ 0x6974_632f_626c_6f6f,
            self.k1.rotate_left(17),
            data,
        )
    }
}

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    let [v0, v1, v2, v3] = v;
    *v0 = v0.wrapping_add(*v1);
    *v1 = v1.rotate_left(13);
    *v1 ^= *v0;
    *v0 = v0.rotate_left(32);
    *v2 = v2.wrapping_add(*v3);
    *v3 = v3.rotate_left(16);
    *v3 ^= *v2;
    *v0 = v0.wrapping_add(*v3);
    *v3 = v3.rotate_left(21);
    *v3 ^= *v0;
    *v2 = v2.wrapping_add(*v1);
    *v1 = v1.rotate_left(17);
    *v1 ^= *v2;
    *v2 = v2.rotate_left(32);
}

/// SipHash-c-d with key `(k0, k1)`, as specified in the SipHash paper.
#[inline]
pub(crate) fn siphash<const C: usize, const D: usize>(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let m = u64::from_le_bytes(w);
        v[3] ^= m;
        for _ in 0..C {
            round(&mut v);
        }
        v[0] ^= m;
    }
    let tail = chunks.remainder();
    let mut last = [0u8; 8];
    for (dst, src) in last.iter_mut().zip(tail) {
        *dst = *src;
    }
    let m = u64::from_le_bytes(last) | ((data.len() as u64 & 0xff) << 56);
    v[3] ^= m;
    for _ in 0..C {
        round(&mut v);
    }
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..D {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_key() -> (u64, u64) {
        let k: [u8; 16] = core::array::from_fn(|i| i as u8);
        let key = SketchKey::from_bytes(k);
        (key.k0, key.k1)
    }

    #[test]
    fn siphash24_reference_vectors() {
        // From the SipHash paper / reference implementation (key 00..0f, message 00..len-1).
        let (k0, k1) = reference_key();
        let msg: [u8; 64] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash::<2, 4>(k0, k1, &msg[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash::<2, 4>(k0, k1, &msg[..1]), 0x74f8_39c5_93dc_67fd);
        assert_eq!(siphash::<2, 4>(k0, k1, &msg[..15]), 0xa129_ca61_49be_45e5);
    }

    #[test]
    #[allow(deprecated)]
    fn siphash24_matches_core_for_all_lengths() {
        use core::hash::Hasher;
        let (k0, k1) = reference_key();
        let msg: [u8; 64] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for len in 0..64 {
            let mut h = core::hash::SipHasher::new_with_keys(k0, k1);
            h.write(&msg[..len]);
            assert_eq!(
                siphash::<2, 4>(k0, k1, &msg[..len]),
                h.finish(),
                "len {len}"
            );
        }
    }

    #[test]
    fn keys_and_inputs_change_the_hash() {
        let a = SketchKey::from_bytes([1; 16]);
        let b = SketchKey::from_bytes([2; 16]);
        assert_ne!(a.hash(b"x"), b.hash(b"x"));
        assert_ne!(a.hash(b"x"), a.hash(b"y"));
        assert_ne!(a.hash(b"x"), a.hash2(b"x"));
        // Length is bound: a trailing zero byte changes the hash.
        assert_ne!(a.hash(b"x"), a.hash(b"x\0"));
    }
}
