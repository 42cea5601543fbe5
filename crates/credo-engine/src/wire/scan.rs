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
        // Most strings have no escape: borrowed as they are.
        if let Some(text) = self.plain_str() {
            return Ok(text);
        }
        self.expect(b'"')?;
        let mut out = String::new();
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

    /// Fast path for a field name: if the next bytes are `"`, a known name and `"`, skips
    /// them and returns the field's index. Otherwise (an escape, an unknown name) returns
    /// `None` and moves nothing, and the general path decides.
    ///
    /// Reads the 16 bytes after the opening quote as one word (zero-padded at the end of the
    /// line), finds the closing quote with the SWAR zero-byte trick and looks the masked word
    /// up in a perfect hash of the known names: no byte loop, no string compare and no scan
    /// of the list for the ~9 names of every line.
    fn known_key(&mut self) -> Option<usize> {
        const QUOTES: u64 = ONES * b'"' as u64;
        if self.peek() != Some(b'"') {
            return None;
        }
        let rest = self.b.get(self.i + 1..)?;
        let bytes: [u8; 16] = match rest.first_chunk() {
            Some(&b) => b,
            None => {
                // Near the end of the line (its last name): a copy of what is left.
                let mut b = [0u8; 16];
                b[..rest.len()].copy_from_slice(rest);
                b
            }
        };
        let w = u128::from_le_bytes(bytes);
        let (lo, hi) = (w as u64, (w >> 64) as u64);
        // The lowest flag is exact (borrows only flag bytes after a true hit). The padding
        // is zeros, never a quote.
        let q = zero_bytes(lo ^ QUOTES);
        let len = if q != 0 {
            q.trailing_zeros() / 8
        } else {
            let q = zero_bytes(hi ^ QUOTES);
            if q == 0 {
                return None;
            }
            8 + q.trailing_zeros() / 8
        };
        // The name and its closing quote; a name with an escape never equals a known one.
        let word = w & (u128::MAX >> (8 * (15 - len)));
        let f = usize::from(KEY_SLOTS[key_slot(word, KEY_MUL)]).checked_sub(1)?;
        if KEY_WORDS[f] != word {
            return None;
        }
        self.i += len as usize + 2;
        Some(f)
    }

    /// A string value without escapes, at the opening quote: its text, or `None` (moving
    /// nothing) for anything else. Inlined: it runs for nearly every value of every line,
    /// and called out of line the whole ingest took 2.5 % more instructions (callgrind).
    #[inline(always)]
    fn plain_str(&mut self) -> Option<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.i + 1;
        let rest = self.b.get(start..)?;
        let n = first_special(rest);
        if rest.get(n) != Some(&b'"') {
            return None;
        }
        let text = self.s.get(start..start + n)?;
        self.i = start + n + 1;
        Some(Cow::Borrowed(text))
    }

    /// A whole number from 0 to `u32::MAX` without sign, fraction or exponent, or `None`
    /// (moving nothing).
    fn plain_u32(&mut self) -> Option<u32> {
        let b = self.b;
        let mut i = self.i;
        let mut v: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            v = v * 10 + u64::from(c - b'0');
            i += 1;
            if i - self.i > 10 {
                return None;
            }
        }
        let n = i - self.i;
        if n == 0 || (n > 1 && b[self.i] == b'0') || matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let v = u32::try_from(v).ok()?;
        self.i = i;
        Some(v)
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

    /// Fast path for a plain decimal (`-`, up to 15 digits, a fraction, no exponent): the
    /// digits as an integer divided by a power of ten. Both are exact in an `f64` and one
    /// division is correctly rounded, so this is the same value `str::parse` gives (the
    /// classic Clinger fast path), for a tenth of the cost. Anything else returns `None`
    /// and moves nothing.
    fn plain_decimal(&mut self) -> Option<f64> {
        const POW10: [f64; 16] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        let b = self.b;
        let mut i = self.i;
        let neg = b.get(i) == Some(&b'-');
        i += usize::from(neg);
        let start = i;
        let mut m: u64 = 0;
        let mut frac = 0;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            m = m * 10 + u64::from(c - b'0');
            i += 1;
            if i - start > 15 {
                return None;
            }
        }
        let int_digits = i - start;
        if int_digits == 0 || (int_digits > 1 && b[start] == b'0') {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let fs = i;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                m = m * 10 + u64::from(c - b'0');
                i += 1;
                if int_digits + (i - fs) > 15 {
                    return None;
                }
            }
            frac = i - fs;
            if frac == 0 {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            return None;
        }
        self.i = i;
        let v = m as f64 / POW10[frac];
        Some(if neg { -v } else { v })
    }

    fn opt_f64(&mut self, field: &str) -> Result<Option<f64>, Reject> {
        if let Some(v) = self.plain_decimal() {
            return Ok(Some(v));
        }
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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `x` (SWAR). It can also flag bytes after a true zero
/// (borrows), never before one, so the lowest flag is exact.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The index of the first `"`, `\\` or control byte (below 0x20) in `b`, or `b.len()`.
///
/// SWAR: eight bytes per step with the classic "has a zero byte" bit trick, because this
/// loop runs over every byte of every string of every ingested line. The trick can flag
/// bytes after a true hit (borrows), never before one, so the lowest flag is exact.
fn first_special(b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(chunk) = b.get(n..n + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let hits = zero_bytes(w ^ (ONES * u64::from(b'"')))
            | zero_bytes(w ^ (ONES * u64::from(b'\\')))
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
pub const FIELDS: [&str; 30] = [
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
    "trigger",
    "grace_days",
    "years",
    "reason",
    "scope",
    "days",
];

/// A field name and its closing quote as one little-endian word, as [`Scanner::known_key`]
/// reads them.
const fn key_word(name: &str) -> u128 {
    let b = name.as_bytes();
    let mut w = 0u128;
    let mut i = 0;
    while i < b.len() {
        w |= (b[i] as u128) << (8 * i);
        i += 1;
    }
    w | ((b'"' as u128) << (8 * b.len()))
}

/// Every field name as a [`key_word`], in [`FIELDS`] order.
const KEY_WORDS: [u128; FIELDS.len()] = {
    let mut out = [0u128; FIELDS.len()];
    let mut i = 0;
    while i < FIELDS.len() {
        out[i] = key_word(FIELDS[i]);
        i += 1;
    }
    out
};

/// A name word's slot in [`KEY_SLOTS`] with multiplier `k` (multiplicative hashing of
/// the word folded to 64 bits; the top 8 bits of the product).
const fn key_slot(word: u128, k: u64) -> usize {
    let x = (word as u64) ^ ((word >> 64) as u64).rotate_left(29);
    (x.wrapping_mul(k) >> 56) as usize
}

/// The first odd multiplier (from a fixed sequence) under which every known name has a
/// slot of its own: found at compile time, so adding a field cannot break the lookup.
const KEY_MUL: u64 = {
    let mut k: u64 = 0x9E37_79B9_7F4A_7C15;
    loop {
        let mut used = [false; 256];
        let mut i = 0;
        let mut perfect = true;
        while i < FIELDS.len() {
            let h = key_slot(KEY_WORDS[i], k);
            if used[h] {
                perfect = false;
                break;
            }
            used[h] = true;
            i += 1;
        }
        if perfect {
            break k;
        }
        k = k.wrapping_add(0x6A09_E667_F3BC_C908) | 1;
    }
};

/// For each slot, the index in [`FIELDS`] + 1 of the name that hashes there (0: none).
const KEY_SLOTS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < FIELDS.len() {
        t[key_slot(KEY_WORDS[i], KEY_MUL)] = i as u8 + 1;
        i += 1;
    }
    t
};

/// Where a field's value goes in [`Wire`], by the value's type.
enum Slot<'w, 'a> {
    Str(&'w mut Option<Cow<'a, str>>),
    F64(&'w mut Option<f64>),
    U32(&'w mut Option<u32>),
    Strs(&'w mut Option<Vec<Cow<'a, str>>>),
}

/// The slot of field `f` (its index in [`FIELDS`]).
fn slot<'w, 'a>(w: &'w mut Wire<'a>, f: usize) -> Slot<'w, 'a> {
    match f {
        0 => Slot::Str(&mut w.id),
        1 => Slot::Str(&mut w.source),
        2 => Slot::Str(&mut w.subject),
        3 => Slot::Str(&mut w.at),
        4 => Slot::Str(&mut w.kind),
        5 => Slot::Str(&mut w.name),
        6 => Slot::Str(&mut w.region),
        7 => Slot::Str(&mut w.industry),
        8 => Slot::F64(&mut w.lat),
        9 => Slot::F64(&mut w.lon),
        10 => Slot::Str(&mut w.address),
        11 => Slot::Strs(&mut w.phones),
        12 => Slot::Str(&mut w.legal_rep),
        13 => Slot::F64(&mut w.amount),
        14 => Slot::Str(&mut w.reference),
        15 => Slot::Str(&mut w.status),
        16 => Slot::U32(&mut w.days_late),
        17 => Slot::Str(&mut w.case),
        18 => Slot::Str(&mut w.court),
        19 => Slot::Str(&mut w.code),
        20 => Slot::U32(&mut w.points),
        21 => Slot::Str(&mut w.authority),
        22 => Slot::Str(&mut w.other),
        23 => Slot::Str(&mut w.op),
        24 => Slot::U32(&mut w.trigger),
        25 => Slot::U32(&mut w.grace_days),
        26 => Slot::U32(&mut w.years),
        27 => Slot::Str(&mut w.reason),
        28 => Slot::Str(&mut w.scope),
        _ => Slot::U32(&mut w.days),
    }
}

/// The fast path of [`scan`], for a line in the shape writers produce: no whitespace,
/// known names, string values without escapes, plain numbers. It builds no error: at
/// anything else (`null`, an array, an escape, a space, a duplicate, trailing bytes) it
/// returns `false`, and the caller discards `w` and runs the general [`scan`], which
/// accepts the same lines and names what is wrong with the others. When it returns
/// `true`, `w` is what [`scan`] would have filled.
///
/// Why: the general scanner's whitespace steps and `Result`s of 40-byte errors were half
/// the cost of a line, and nearly every line is in this shape.
pub(crate) fn scan_plain<'a>(s: &'a str, w: &mut Wire<'a>) -> bool {
    let mut sc = Scanner {
        s,
        b: s.as_bytes(),
        i: 1,
    };
    if sc.b.first() != Some(&b'{') {
        return false;
    }
    let mut seen: u32 = 0;
    loop {
        let Some(f) = sc.known_key() else {
            return false;
        };
        if seen & (1 << f) != 0 || sc.peek() != Some(b':') {
            return false;
        }
        seen |= 1 << f;
        sc.i += 1;
        let filled = match slot(w, f) {
            Slot::Str(v) => sc.plain_str().map(|x| *v = Some(x)),
            Slot::F64(v) => sc.plain_decimal().map(|x| *v = Some(x)),
            Slot::U32(v) => sc.plain_u32().map(|x| *v = Some(x)),
            Slot::Strs(_) => None,
        };
        if filled.is_none() {
            return false;
        }
        match sc.peek() {
            Some(b',') => sc.i += 1,
            Some(b'}') => return sc.i + 1 == sc.b.len(),
            _ => return false,
        }
    }
}

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
        "trigger" => 24,
        "grace_days" => 25,
        "years" => 26,
        "reason" => 27,
        "scope" => 28,
        "days" => 29,
        _ => return None,
    })
}

/// Scans one line into `w`, which must start out empty (all `None`).
pub(crate) fn scan<'a>(s: &'a str, w: &mut Wire<'a>) -> Result<(), Reject> {
    let mut sc = Scanner {
        s,
        b: s.as_bytes(),
        i: 0,
    };
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
            let f = match sc.known_key() {
                Some(f) => f,
                None => {
                    let key = sc.string()?;
                    // Like serde: an unknown name is reported before its value is read.
                    field_index(&key)
                        .ok_or_else(|| reject("unknown_field", format!("unknown field `{key}`")))?
                }
            };
            if seen & (1 << f) != 0 {
                return Err(reject(
                    "bad_field",
                    format!("duplicate field `{}`", FIELDS[f]),
                ));
            }
            seen |= 1 << f;
            sc.ws();
            sc.expect(b':')?;
            sc.ws();
            let name = FIELDS[f];
            match slot(w, f) {
                Slot::Str(v) => *v = sc.opt_str(name)?,
                Slot::F64(v) => *v = sc.opt_f64(name)?,
                Slot::U32(v) => *v = sc.opt_u32(name)?,
                Slot::Strs(v) => *v = sc.opt_str_array(name)?,
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scanner(s: &str) -> Scanner<'_> {
        Scanner {
            s,
            b: s.as_bytes(),
            i: 0,
        }
    }

    /// The event each path makes of `line`, or `None` where the fast path declines.
    fn both(
        line: &str,
    ) -> (
        Option<Result<credo_model::Event, Reject>>,
        Result<credo_model::Event, Reject>,
    ) {
        let mut w = Wire::default();
        let fast = scan_plain(line, &mut w).then(|| super::super::to_event(&mut w, None));
        let mut w = Wire::default();
        let general = scan(line, &mut w).and_then(|()| super::super::to_event(&mut w, None));
        (fast, general)
    }

    const TYPICAL: [&str; 5] = [
        r#"{"id":"bill-0-0-658","source":"state-grid","subject":"420102198811252731","at":"2024-11-07T17:00:52+08:00","kind":"bill","ref":"451332-658","amount":211.3,"status":"paid"}"#,
        r#"{"id":"pay-1-3","source":"alipay","subject":"320213200205299493","at":"2024-11-06T16:40:02+08:00","kind":"payment","amount":248.16}"#,
        r#"{"id":"b2","source":"s","subject":"11010519491231002X","at":"2025-03-14T09:30:00Z","kind":"bill","ref":"r","amount":3,"status":"late","days_late":4}"#,
        r#"{"id":"v","subject":"11010519491231002X","at":"2025-03-14","kind":"violation","code":"red_light","points":50,"authority":"x"}"#,
        r#"{"id":"x","subject":"11010519491231002X","at":"2025-03-14","kind":"ban","scope":"flight","days":3650,"code":"tax"}"#,
    ];

    #[test]
    fn writers_lines_take_the_fast_path_and_give_the_same_events() {
        for line in TYPICAL {
            let (fast, general) = both(line);
            let fast = fast.unwrap_or_else(|| panic!("declined {line}"));
            assert_eq!(fast, general, "{line}");
            assert!(general.is_ok(), "{line}: {general:?}");
        }
    }

    #[test]
    fn the_fast_path_declines_what_the_general_path_must_judge() {
        let base = TYPICAL[2];
        let variants = [
            base.replace(r#""kind":"#, r#""kind": "#),        // a space
            base.replace(r#""ref":"r""#, r#""ref":"r\"1""#),  // an escape
            base.replace(r#""ref":"r""#, r#""ref":null"#),    // null
            base.replace(r#""amount":3"#, r#""amount":3e0"#), // an exponent
            base.replace(r#""days_late":4"#, r#""days_late":4.0"#), // a fraction
            base.replace(r#""days_late":4"#, r#""days_late":04"#), // a leading zero
            base.replace(r#""days_late":4"#, r#""days_late":4294967296"#), // too large
            base.replace(r#""days_late":4"#, r#""days_late":-4"#), // a sign
            base.replace(r#""ref":"r","#, r#""ref":"r","ref":"r","#), // a duplicate
            base.replace(r#""ref":"#, r#""reff":"#),          // an unknown name
            format!("{base} "),                               // trailing space
            format!("{base}}}"),                              // trailing bytes
            format!(" {base}"),                               // leading space
            base.replace(r#""ref":"r""#, "\"ref\":\"r\u{1}\""), // a control byte
            "{}".to_string(),
            "{\"id\":\"x\",}".to_string(),
        ];
        for v in &variants {
            assert!(both(v).0.is_none(), "took {v}");
        }
        // The general path still decides: the spaced and escaped lines are fine.
        assert!(both(&variants[0]).1.is_ok());
        assert!(both(&variants[1]).1.is_ok());
        assert_eq!(both(&variants[8]).1.map_err(|r| r.code), Err("bad_field"));
        assert_eq!(
            both(&variants[9]).1.map_err(|r| r.code),
            Err("unknown_field")
        );
    }

    #[test]
    fn every_name_has_a_slot_of_its_own() {
        for (f, &name) in FIELDS.iter().enumerate() {
            let slot = key_slot(key_word(name), KEY_MUL);
            assert_eq!(usize::from(KEY_SLOTS[slot]), f + 1, "{name}");
        }
        assert_eq!(KEY_SLOTS.iter().filter(|&&x| x != 0).count(), FIELDS.len());
    }

    proptest! {
        // Wherever the fast path accepts a line, it gives what the general path gives.
        #[test]
        fn the_fast_path_agrees_where_it_accepts(
            fields in proptest::collection::vec(
                (proptest::sample::select(FIELDS.to_vec()), prop_oneof![
                    "\"[a-z0-9 -]{0,20}\"",
                    "[0-9]{1,11}",
                    "-?[0-9]{1,4}\\.[0-9]{1,3}",
                    Just("\"11010519491231002X\"".to_string()),
                    Just("\"2025-03-14T09:30:00Z\"".to_string()),
                    Just("\"payment\"".to_string()),
                ]),
                0..9,
            ),
        ) {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let line = format!("{{{}}}", body.join(","));
            let mut fast = Wire::default();
            let mut general = Wire::default();
            if scan_plain(&line, &mut fast) {
                prop_assert!(scan(&line, &mut general).is_ok());
                prop_assert_eq!(
                    super::super::to_event(&mut fast, None),
                    super::super::to_event(&mut general, None)
                );
            }
        }

        // The fast path must give bit-for-bit what std's correctly rounded parser gives,
        // and must decline (moving nothing) whatever it does not handle.
        #[test]
        fn plain_decimal_matches_std(
            neg in any::<bool>(),
            int in "(0|[1-9][0-9]{0,17})",
            frac in proptest::option::of("[0-9]{0,17}"),
            exp in proptest::option::of("[eE][+-]?[0-9]{1,3}"),
            tail in "(|,|\\}| )",
        ) {
            let mut num = format!("{}{int}", if neg { "-" } else { "" });
            if let Some(f) = &frac {
                num.push('.');
                num.push_str(f);
            }
            if let Some(e) = &exp {
                num.push_str(e);
            }
            let text = format!("{num}{tail}");
            let mut sc = scanner(&text);
            match sc.plain_decimal() {
                Some(v) => {
                    prop_assert!(exp.is_none());
                    prop_assert_eq!(sc.i, num.len());
                    let expected: f64 = num.parse().unwrap();
                    prop_assert_eq!(v.to_bits(), expected.to_bits());
                }
                None => prop_assert_eq!(sc.i, 0),
            }
        }

        // The fast path for names agrees with the general one on any text after a quote.
        #[test]
        fn known_key_matches_field_index(
            name in prop_oneof![
                proptest::sample::select(FIELDS.to_vec()).prop_map(String::from),
                "[a-z_]{0,17}",
                "[a-z\\\\\"]{0,6}",
            ],
            tail in "(\":1}|\"|)",
        ) {
            let text = format!("\"{name}{tail}");
            let mut sc = scanner(&text);
            if let Some(f) = sc.known_key() {
                prop_assert_eq!(FIELDS[f], name.as_str());
                prop_assert_eq!(&text[..sc.i], format!("\"{name}\""));
            } else {
                prop_assert_eq!(sc.i, 0);
                let general = scanner(&text).string().ok();
                let known = general.as_deref().and_then(field_index);
                // Declined only where the general path must decide: an unknown name,
                // an escape, a bad string, or fewer than 16 bytes left to read at once.
                prop_assert!(known.is_none() || text.len() < 17 || name.contains('\\'));
            }
        }
    }
}
