//! A minimal JSON writer (the examples take no serialisation dependency): objects, arrays,
//! strings with escaping, integers, fixed-point decimals, booleans.
//!
//! ```
//! use itc_examples::json::Json;
//! let mut j = Json::object();
//! j.field_str("name", "lamp \"1\"").field_u64("height", 7).field_bool("ok", true);
//! let mut a = Json::array();
//! a.item_u64(1).item_u64(2);
//! j.field_raw("list", &a.finish());
//! assert_eq!(j.finish(), r#"{"name":"lamp \"1\"","height":7,"ok":true,"list":[1,2]}"#);
//! ```

use std::fmt::Write;

/// An object or array being written.
#[derive(Debug, Clone)]
pub struct Json {
    out: String,
    close: char,
    first: bool,
}

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Json {
    /// Starts an object.
    pub fn object() -> Self {
        Json {
            out: String::from("{"),
            close: '}',
            first: true,
        }
    }

    /// Starts an array.
    pub fn array() -> Self {
        Json {
            out: String::from("["),
            close: ']',
            first: true,
        }
    }

    fn sep(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    fn key(&mut self, k: &str) {
        self.sep();
        write_str(&mut self.out, k);
        self.out.push(':');
    }

    /// `"k": "v"`.
    pub fn field_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        write_str(&mut self.out, v);
        self
    }

    /// `"k": v` for an integer.
    pub fn field_u64(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        let _ = write!(self.out, "{v}");
        self
    }

    /// `"k": v` for a signed integer.
    pub fn field_i64(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        let _ = write!(self.out, "{v}");
        self
    }

    /// `"k": v` for a decimal printed with `decimals` digits (reporting only).
    pub fn field_f64(&mut self, k: &str, v: f64, decimals: usize) -> &mut Self {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.out, "{v:.decimals$}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// `"k": true|false`.
    pub fn field_bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// `"k": <already encoded JSON>`.
    pub fn field_raw(&mut self, k: &str, raw: &str) -> &mut Self {
        self.key(k);
        self.out.push_str(raw);
        self
    }

    /// An integer array item.
    pub fn item_u64(&mut self, v: u64) -> &mut Self {
        self.sep();
        let _ = write!(self.out, "{v}");
        self
    }

    /// An already encoded array item.
    pub fn item_raw(&mut self, raw: &str) -> &mut Self {
        self.sep();
        self.out.push_str(raw);
        self
    }

    /// Closes and returns the text.
    pub fn finish(mut self) -> String {
        self.out.push(self.close);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_quotes() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn non_finite_numbers_become_null() {
        let mut j = Json::object();
        j.field_f64("x", f64::NAN, 2).field_f64("y", 1.5, 1);
        assert_eq!(j.finish(), r#"{"x":null,"y":1.5}"#);
    }
}
