//! The one canonical byte encoding for everything hashed, signed or sent.
//!
//! Rules (DESIGN §3), chosen so every value has exactly one encoding:
//!
//! * integers are fixed-width big-endian (`u8`, `u16`, `u32`, `u64`); `bool` is `0` or `1`;
//! * lengths and counts are unsigned LEB128 varints, minimal (an overlong form such as
//!   `0x80 0x00` is rejected), and every length is checked against a caller-given limit
//!   *and* the bytes actually remaining before anything is allocated;
//! * fixed arrays, hashes and keys are raw bytes;
//! * enums are a one-byte tag followed by the variant's fields; unknown tags are errors;
//! * a top-level decode ([`Decode::decode_bytes`]) rejects trailing bytes.
//!
//! We chose a pair of small traits over `postcard` + `serde` because decoding must run with no
//! allocator on firmware, must bound every length by a protocol limit, and must reject
//! non-canonical forms — all of which are easier to guarantee (and audit) in ~300 lines.
//!
//! ```
//! use itc_crypto::encoding::{Decode, Encode, Reader};
//! let mut buf = Vec::new();
//! 300u64.encode(&mut buf);
//! itc_crypto::encoding::write_bytes(&mut buf, b"lamp");
//! let mut r = Reader::new(&buf);
//! assert_eq!(u64::decode(&mut r).unwrap(), 300);
//! assert_eq!(r.read_bytes_prefixed(16).unwrap(), b"lamp");
//! assert!(r.finish().is_ok());
//! ```

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::error::CryptoError;

/// Why a byte string is not the canonical encoding of the expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("unexpected end of input: needed {needed} more bytes, {remaining} remain")]
    UnexpectedEnd {
        /// Bytes the decoder needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A complete value was decoded but bytes were left over.
    #[error("{count} trailing bytes after the value")]
    TrailingBytes {
        /// Number of unread bytes.
        count: usize,
    },
    /// A varint used more bytes than needed (e.g. `0x80 0x00` for zero).
    #[error("varint is not minimally encoded")]
    NonCanonicalVarint,
    /// A varint does not fit in 64 bits.
    #[error("varint overflows u64")]
    VarintOverflow,
    /// A length or count is above the protocol limit for that field (or above what remains).
    #[error("length {len} exceeds limit {max}")]
    LengthOverLimit {
        /// The length found in the input.
        len: u64,
        /// The largest length allowed here.
        max: u64,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {0:#04x}")]
    InvalidBool(u8),
    /// An enum tag that names no variant.
    #[error("unknown {type_name} variant tag {tag}")]
    UnknownVariant {
        /// The type being decoded.
        type_name: &'static str,
        /// The tag found.
        tag: u64,
    },
    /// A version byte this implementation does not speak.
    #[error("unsupported {type_name} version {found}")]
    UnsupportedVersion {
        /// The type being decoded.
        type_name: &'static str,
        /// The version found.
        found: u64,
    },
    /// The bytes decode but break a canonical-form rule of the type (unsorted or duplicate set
    /// members, a zero where none is allowed, a field outside its range...).
    #[error("{type_name} is not in canonical form")]
    NonCanonical {
        /// The type being decoded.
        type_name: &'static str,
    },
    /// A key or signature field is not a valid curve point / scalar.
    #[error("invalid key or signature bytes: {0}")]
    Crypto(#[from] CryptoError),
}

/// A sink for encoded bytes: a `Vec<u8>`, a fixed buffer, a hasher or a length counter.
pub trait Writer {
    /// Appends bytes.
    fn write(&mut self, bytes: &[u8]);
}

#[cfg(feature = "alloc")]
impl Writer for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts bytes instead of storing them (used by [`Encode::encoded_len`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct LenCounter(pub usize);

impl Writer for LenCounter {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
}

/// Writes into a caller-provided buffer without allocating; records overflow instead of
/// panicking, so encoding on firmware can be checked with [`SliceWriter::finish`].
#[derive(Debug)]
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> SliceWriter<'a> {
    /// Wraps a buffer.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter {
            buf,
            pos: 0,
            overflow: false,
        }
    }

    /// The written prefix, or `None` if the value did not fit.
    pub fn finish(self) -> Option<&'a [u8]> {
        if self.overflow {
            None
        } else {
            self.buf.get(..self.pos)
        }
    }
}

impl Writer for SliceWriter<'_> {
    fn write(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(bytes);
                self.pos = end;
            }
            _ => self.overflow = true,
        }
    }
}

/// A value with one canonical byte encoding.
pub trait Encode {
    /// Writes the encoding.
    fn encode<W: Writer + ?Sized>(&self, w: &mut W);

    /// Length of the encoding in bytes.
    fn encoded_len(&self) -> usize {
        let mut c = LenCounter(0);
        self.encode(&mut c);
        c.0
    }

    /// The encoding as a fresh vector.
    #[cfg(feature = "alloc")]
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }
}

/// A value decodable from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from the reader, leaving the rest.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes exactly one value occupying all of `bytes` (trailing bytes are an error).
    fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// A cursor over untrusted input. Every read is bounds-checked and returns a typed error.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless everything was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.buf.len(),
            })
        }
    }

    /// Takes the next `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::UnexpectedEnd {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.read_bytes(N)?;
        // `read_bytes` returned exactly N bytes; `try_from` keeps the check panic-free.
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::UnexpectedEnd {
            needed: N,
            remaining: bytes.len(),
        })
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        let [b] = self.read_array::<1>()?;
        Ok(b)
    }

    /// Reads a minimal unsigned LEB128 varint.
    pub fn read_varint(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = self.read_u8()?;
            let low = u64::from(byte & 0x7f);
            if i == 9 && byte > 0x01 {
                return Err(DecodeError::VarintOverflow);
            }
            value |= low << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(DecodeError::NonCanonicalVarint);
                }
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    /// Reads a length or count and checks it against `max` (and, for byte strings, callers
    /// also get the remaining-input check from [`Reader::read_bytes`]).
    pub fn read_len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let len = self.read_varint()?;
        if len > max as u64 {
            return Err(DecodeError::LengthOverLimit {
                len,
                max: max as u64,
            });
        }
        // `len <= max` and `max` is a usize, so this cannot truncate.
        Ok(len as usize)
    }

    /// Reads a count of items, each at least `min_item_len` bytes, bounded by `max` *and* by
    /// what the remaining input could possibly hold, so a forged count cannot make a decoder
    /// reserve memory the input does not back.
    pub fn read_count(&mut self, max: usize, min_item_len: usize) -> Result<usize, DecodeError> {
        let n = self.read_len(max)?;
        let fits = self.buf.len().checked_div(min_item_len.max(1)).unwrap_or(0);
        if n > fits {
            return Err(DecodeError::UnexpectedEnd {
                needed: n.saturating_mul(min_item_len),
                remaining: self.buf.len(),
            });
        }
        Ok(n)
    }

    /// Reads a varint-length-prefixed byte string of at most `max` bytes (borrowed).
    pub fn read_bytes_prefixed(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.read_len(max)?;
        self.read_bytes(n)
    }

    /// Reads a strict boolean.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        match self.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::InvalidBool(b)),
        }
    }

    /// Reads a length-prefixed sequence of at most `max` items into a `Vec`.
    #[cfg(feature = "alloc")]
    pub fn read_vec<T: Decode>(&mut self, max: usize) -> Result<Vec<T>, DecodeError> {
        let n = self.read_count(max, 1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(self)?);
        }
        Ok(v)
    }

    /// Reads a length-prefixed sequence of at most `N` items into a `heapless::Vec` (no alloc).
    pub fn read_heapless_vec<T: Decode, const N: usize>(
        &mut self,
    ) -> Result<heapless::Vec<T, N>, DecodeError> {
        let n = self.read_count(N, 1)?;
        let mut v = heapless::Vec::new();
        for _ in 0..n {
            let item = T::decode(self)?;
            // `n <= N` was checked above, so this push cannot fail; map it anyway.
            v.push(item).map_err(|_| DecodeError::LengthOverLimit {
                len: n as u64,
                max: N as u64,
            })?;
        }
        Ok(v)
    }

    /// Reads a length-prefixed byte string of at most `max` bytes into a `Vec`.
    #[cfg(feature = "alloc")]
    pub fn read_byte_vec(&mut self, max: usize) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_bytes_prefixed(max)?.to_vec())
    }
}

/// Writes a minimal unsigned LEB128 varint.
pub fn write_varint<W: Writer + ?Sized>(w: &mut W, mut v: u64) {
    let mut buf = [0u8; 10];
    let mut n = 0;
    for slot in buf.iter_mut() {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        n += 1;
        if v == 0 {
            *slot = byte;
            break;
        }
        *slot = byte | 0x80;
    }
    w.write(buf.get(..n).unwrap_or(&buf));
}

/// Length in bytes of the varint encoding of `v`.
pub fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Writes a varint length prefix followed by the bytes.
pub fn write_bytes<W: Writer + ?Sized>(w: &mut W, bytes: &[u8]) {
    write_varint(w, bytes.len() as u64);
    w.write(bytes);
}

/// Writes a varint count followed by each item's encoding.
pub fn write_seq<W: Writer + ?Sized, T: Encode>(w: &mut W, items: &[T]) {
    write_varint(w, items.len() as u64);
    for item in items {
        item.encode(w);
    }
}

macro_rules! impl_uint {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
                w.write(&self.to_be_bytes());
            }
            fn encoded_len(&self) -> usize {
                core::mem::size_of::<$t>()
            }
        }
        impl Decode for $t {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_be_bytes(r.read_array()?))
            }
        }
    )*};
}
impl_uint!(u8, u16, u32, u64);

impl Encode for bool {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(&[u8::from(*self)]);
    }
    fn encoded_len(&self) -> usize {
        1
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        w.write(self);
    }
    fn encoded_len(&self) -> usize {
        N
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_array()
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        match self {
            None => w.write(&[0]),
            Some(v) => {
                w.write(&[1]);
                v.encode(w);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            tag => Err(DecodeError::UnknownVariant {
                type_name: "Option",
                tag: u64::from(tag),
            }),
        }
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode<W: Writer + ?Sized>(&self, w: &mut W) {
        (**self).encode(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn varint_rejects_overlong_and_overflow() {
        assert_eq!(
            Reader::new(&[0x80, 0x00]).read_varint(),
            Err(DecodeError::NonCanonicalVarint)
        );
        assert_eq!(
            Reader::new(&[0xff; 11]).read_varint(),
            Err(DecodeError::VarintOverflow)
        );
        let mut max = vec![0xffu8; 9];
        max.push(0x01);
        assert_eq!(Reader::new(&max).read_varint(), Ok(u64::MAX));
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert_eq!(
            Reader::new(&over).read_varint(),
            Err(DecodeError::VarintOverflow)
        );
        assert!(matches!(
            Reader::new(&[0x80]).read_varint(),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn lengths_are_bounded_before_allocation() {
        let mut buf = Vec::new();
        write_varint(&mut buf, 1 << 40);
        assert!(matches!(
            Reader::new(&buf).read_vec::<u8>(1000),
            Err(DecodeError::LengthOverLimit { .. })
        ));
        // A count within the limit but larger than the input is rejected before reserving.
        let mut buf = Vec::new();
        write_varint(&mut buf, 500);
        assert!(matches!(
            Reader::new(&buf).read_vec::<u64>(1000),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn trailing_bytes_and_bools() {
        assert_eq!(
            u16::decode_bytes(&[0, 1, 2]),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        assert_eq!(bool::decode_bytes(&[2]), Err(DecodeError::InvalidBool(2)));
        assert_eq!(
            Option::<u8>::decode_bytes(&[2, 0]),
            Err(DecodeError::UnknownVariant {
                type_name: "Option",
                tag: 2
            })
        );
    }

    #[test]
    fn slice_writer_reports_overflow() {
        let mut buf = [0u8; 3];
        let mut w = SliceWriter::new(&mut buf);
        7u32.encode(&mut w);
        assert!(w.finish().is_none());
        let mut buf = [0u8; 4];
        let mut w = SliceWriter::new(&mut buf);
        7u32.encode(&mut w);
        assert_eq!(w.finish(), Some(&[0, 0, 0, 7][..]));
    }

    proptest! {
        #[test]
        fn varint_round_trip(v: u64) {
            let mut buf = Vec::new();
            write_varint(&mut buf, v);
            prop_assert_eq!(buf.len(), varint_len(v));
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.read_varint().unwrap(), v);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn byte_strings_round_trip(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = Vec::new();
            write_bytes(&mut buf, &data);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.read_bytes_prefixed(300).unwrap(), &data[..]);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn vec_round_trip(items in proptest::collection::vec(any::<u64>(), 0..50)) {
            let mut buf = Vec::new();
            write_seq(&mut buf, &items);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.read_vec::<u64>(50).unwrap(), items);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Vec::<u8>::from(Reader::new(&data).read_bytes_prefixed(64).unwrap_or_default());
            let _ = Reader::new(&data).read_vec::<u32>(16);
            let _ = Option::<u64>::decode_bytes(&data);
        }
    }
}
