//! A hand-written scanner for one event line: a flat JSON object whose values are
//! strings, numbers, `null` or (for `phones`) an array of strings.
//!
//! Why by hand: parsing is the cost of durable ingest (millions of lines a second), and a
//! scanner that knows the ~25 field names and writes straight into [`Wire`] is several
//! times faster than a generic deserializer. It follows RFC 8259 strictly (strings,
//! escapes and surrogate pairs, the number grammar, no trailing commas, nothing after the
//! object) and is checked against serde_json by a differential property test and a fuzz
//! target.

use super::{Reject, Wire, reject};
use std::borrow::Cow;

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

fn syntax(what: impl Into<String>) -> Reject {
    reject("bad_json", what)
}

fn wrong(field: &str, expected: &str) -> Reject {
    reject("bad_field", format!("`{field}`: expected {expected}"))
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), Reject> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(syntax(format!(
                "expected '{}' at column {}",
                char::from(c),
                self.i + 1
            )))
        }
    }

    /// A string starting at the opening quote.
    fn string(&mut self) -> Result<Cow<'a, str>, Reject> {
        self.expect(b'"')?;
        let start = self.i;
        // Fast path: find the first quote, backslash or control byte eight bytes at a time.
        let rest = &self.b[start..];
        let n = first_special(rest);
        match rest.get(n) {
            None => return Err(syntax("unterminated string")),
            Some(&c) if c < 0x20 => {
                return Err(syntax(format!(
                    "control character in a string at column {}",
                    start + n + 1
                )));
            }
            Some(b'"') => {
                self.i = start + n + 1;
                return Ok(Cow::Borrowed(&self.s[start..start + n]));
            }
            Some(_) => self.i = start + n, // a backslash: the slow path below
        }
        let mut out = String::from(&self.s[start..self.i]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| syntax("unterminated escape"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(syntax("lone leading surrogate in a string"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(syntax("invalid trailing surrogate in a string"));
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(syntax("lone trailing surrogate in a string"));
                            } else {
                                char::from_u32(hi)
                            };
                            out.push(ch.ok_or_else(|| syntax("invalid \\u escape"))?);
                        }
                        _ => return Err(syntax(format!("invalid escape at column {}", self.i))),
                    }
                }
                Some(c) if c < 0x20 => {
                    return Err(syntax(format!(
                        "control character in a string at column {}",
                        self.i + 1
                    )));
                }
                Some(_) => {
                    // Copy a run of plain bytes at once (it is valid UTF-8: the line is a str).
                    let run = self.i;
                    while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                        self.i += 1;
                    }
                    out.push_str(&self.s[run..self.i]);
                }
                None => return Err(syntax("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Reject> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| syntax("short \\u escape"))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| syntax("invalid \\u escape"))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    /// The text of a number, checked against the JSON grammar.
    fn number_text(&mut self) -> Result<(&'a str, bool), Reject> {
        let start = self.i;
        let digits = |sc: &mut Self| {
            let s = sc.i;
            while matches!(sc.peek(), Some(b'0'..=b'9')) {
                sc.i += 1;
            }
            sc.i - s
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(syntax(format!("invalid number at column {}", start + 1))),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            integer = false;
            if digits(self) == 0 {
                return Err(syntax(format!("invalid number at column {}", start + 1)));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(syntax(format!("invalid number at column {}", start + 1)));
            }
        }
        Ok((&self.s[start..self.i], integer))
    }

    /// Skips a `null`, or reports that the value is not of the expected type. A value that
    /// is not JSON at all is a syntax error.
    fn null_or_wrong(&mut self, field: &str, expected: &str) -> Result<(), Reject> {
        match self.peek() {
            Some(b'n') if self.b.get(self.i..self.i + 4) == Some(b"null") => {
                self.i += 4;
                Ok(())
            }
            Some(b'"' | b'{' | b'[' | b'-' | b'0'..=b'9') => Err(wrong(field, expected)),
            Some(b't') if self.b.get(self.i..self.i + 4) == Some(b"true") => {
                Err(wrong(field, expected))
            }
            Some(b'f') if self.b.get(self.i..self.i + 5) == Some(b"false") => {
                Err(wrong(field, expected))
            }
            _ => Err(syntax(format!("expected a value at column {}", self.i + 1))),
        }
    }

    fn opt_str(&mut self, field: &str) -> Result<Option<Cow<'a, str>>, Reject> {
        if self.peek() == Some(b'"') {
            return self.string().map(Some);
        }
        self.null_or_wrong(field, "a string").map(|()| None)
    }

    fn opt_f64(&mut self, field: &str) -> Result<Option<f64>, Reject> {
        if matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            let (t, _) = self.number_text()?;
            let v: f64 = t
                .parse()
                .map_err(|_| syntax(format!("invalid number {t}")))?;
            if !v.is_finite() {
                return Err(syntax(format!("number out of range: {t}")));
            }
            return Ok(Some(v));
        }
        self.null_or_wrong(field, "a number").map(|()| None)
    }

    fn opt_u32(&mut self, field: &str) -> Result<Option<u32>, Reject> {
        if matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            let (t, integer) = self.number_text()?;
            if !integer {
                return Err(wrong(field, "a whole number"));
            }
            return t
                .parse::<u32>()
                .map(Some)
                .map_err(|_| wrong(field, "a whole number from 0 to 4294967295"));
        }
        self.null_or_wrong(field, "a whole number").map(|()| None)
    }

    fn opt_str_array(&mut self, field: &str) -> Result<Option<Vec<Cow<'a, str>>>, Reject> {
        if self.peek() != Some(b'[') {
            return self
                .null_or_wrong(field, "an array of strings")
                .map(|()| None);
        }
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Some(out));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                self.null_or_wrong(field, "an array of strings")?;
                return Err(wrong(field, "an array of strings"));
            }
            out.push(self.string()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Some(out));
                }
                _ => {
                    return Err(syntax(format!(
                        "expected ',' or ']' at column {}",
                        self.i + 1
                    )));
                }
            }
        }
    }
}

/// The index of the first `"`, `\\` or control byte (below 0x20) in `b`, or `b.len()`.
///
/// SWAR: eight bytes per step with the classic "has a zero byte" bit trick, because this
/// loop runs over every byte of every string of every ingested line. The trick can flag
/// bytes after a true hit (borrows), never before one, so the lowest flag is exact.
fn first_special(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut n = 0;
    while let Some(chunk) = b.get(n..n + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return n + (hits.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + b[n..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(b.len() - n)
}

/// The known fields, in the order of their bit in the "seen" mask.
const FIELDS: [&str; 24] = [
    "id",
    "source",
    "subject",
    "at",
    "kind",
    "name",
    "region",
    "industry",
    "lat",
    "lon",
    "address",
    "phones",
    "legal_rep",
    "amount",
    "ref",
    "status",
    "days_late",
    "case",
    "court",
    "code",
    "points",
    "authority",
    "other",
    "op",
];

/// The position of a field name in [`FIELDS`] (a `match`, which compiles to a switch on
/// the length and a few compares, not a scan of the list).
fn field_index(key: &str) -> Option<usize> {
    Some(match key {
        "id" => 0,
        "source" => 1,
        "subject" => 2,
        "at" => 3,
        "kind" => 4,
        "name" => 5,
        "region" => 6,
        "industry" => 7,
        "lat" => 8,
        "lon" => 9,
        "address" => 10,
        "phones" => 11,
        "legal_rep" => 12,
        "amount" => 13,
        "ref" => 14,
        "status" => 15,
        "days_late" => 16,
        "case" => 17,
        "court" => 18,
        "code" => 19,
        "points" => 20,
        "authority" => 21,
        "other" => 22,
        "op" => 23,
        _ => return None,
    })
}

pub(crate) fn scan(s: &str) -> Result<Wire<'_>, Reject> {
    let mut sc = Scanner {
        s,
        b: s.as_bytes(),
        i: 0,
    };
    let mut w = Wire::default();
    let mut seen: u32 = 0;
    sc.ws();
    sc.expect(b'{')?;
    sc.ws();
    if sc.peek() == Some(b'}') {
        sc.i += 1;
    } else {
        loop {
            sc.ws();
            if sc.peek() != Some(b'"') {
                return Err(syntax(format!(
                    "expected a field name at column {}",
                    sc.i + 1
                )));
            }
            let key = sc.string()?;
            // Like serde: an unknown or repeated name is reported before its value is read.
            let Some(f) = field_index(&key) else {
                return Err(reject("unknown_field", format!("unknown field `{key}`")));
            };
            if seen & (1 << f) != 0 {
                return Err(reject("bad_field", format!("duplicate field `{key}`")));
            }
            seen |= 1 << f;
            sc.ws();
            sc.expect(b':')?;
            sc.ws();
            let name = FIELDS[f];
            match f {
                0 => w.id = sc.opt_str(name)?,
                1 => w.source = sc.opt_str(name)?,
                2 => w.subject = sc.opt_str(name)?,
                3 => w.at = sc.opt_str(name)?,
                4 => w.kind = sc.opt_str(name)?,
                5 => w.name = sc.opt_str(name)?,
                6 => w.region = sc.opt_str(name)?,
                7 => w.industry = sc.opt_str(name)?,
                8 => w.lat = sc.opt_f64(name)?,
                9 => w.lon = sc.opt_f64(name)?,
                10 => w.address = sc.opt_str(name)?,
                11 => w.phones = sc.opt_str_array(name)?,
                12 => w.legal_rep = sc.opt_str(name)?,
                13 => w.amount = sc.opt_f64(name)?,
                14 => w.reference = sc.opt_str(name)?,
                15 => w.status = sc.opt_str(name)?,
                16 => w.days_late = sc.opt_u32(name)?,
                17 => w.case = sc.opt_str(name)?,
                18 => w.court = sc.opt_str(name)?,
                19 => w.code = sc.opt_str(name)?,
                20 => w.points = sc.opt_u32(name)?,
                21 => w.authority = sc.opt_str(name)?,
                22 => w.other = sc.opt_str(name)?,
                _ => w.op = sc.opt_str(name)?,
            }
            sc.ws();
            match sc.peek() {
                Some(b',') => sc.i += 1,
                Some(b'}') => {
                    sc.i += 1;
                    break;
                }
                _ => {
                    return Err(syntax(format!(
                        "expected ',' or '}}' at column {}",
                        sc.i + 1
                    )));
                }
            }
        }
    }
    sc.ws();
    if sc.i != sc.b.len() {
        return Err(syntax(format!(
            "trailing characters at column {}",
            sc.i + 1
        )));
    }
    Ok(w)
}
