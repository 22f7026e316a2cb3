//! Lower-case hex formatting without allocation, for `Debug`/`Display` of hashes and keys.

use core::fmt;

/// Writes `bytes` as lower-case hex into a formatter.
pub fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Parses exactly `N` bytes from a hex string (either case). Returns `None` on any bad digit
/// or wrong length; used for constants in tests, examples and configuration.
pub fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [h, l] => (nibble(*h)?, nibble(*l)?),
            _ => return None,
        };
        *o = (hi << 4) | lo;
    }
    Some(out)
}

pub(crate) fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_cases_and_rejects_bad_input() {
        assert_eq!(decode_hex::<2>("aBcD"), Some([0xab, 0xcd]));
        assert_eq!(decode_hex::<2>("abc"), None);
        assert_eq!(decode_hex::<2>("abcg"), None);
    }
}
