//! Subject identifiers: the 18-character resident ID (GB 11643) and the unified
//! social credit code (GB 32100-2015), with their check characters and the
//! court list's masking.

use std::fmt;
use std::str::FromStr;

/// Why an identifier was rejected. Each variant names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must have {expected} characters, found {found}")]
    Length {
        kind: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{kind} has an invalid character {ch:?} at position {pos}")]
    Character {
        kind: &'static str,
        pos: usize,
        ch: char,
    },
    #[error("resident id has an impossible birth date {date}")]
    BirthDate { date: String },
    #[error("resident id has an invalid region code {region}")]
    Region { region: String },
    #[error("{kind} check character is {found:?} but should be {expected:?}")]
    Check {
        kind: &'static str,
        found: char,
        expected: char,
    },
    #[error(
        "not a resident id (18 characters, digits and a final check) or a unified social credit code (18 characters)"
    )]
    Unrecognised,
}

const RESIDENT: &str = "resident id";
const CREDIT: &str = "unified social credit code";

const RID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RID_CHECK: &[u8; 11] = b"10X98765432";

/// A validated 18-character resident ID, packed as the 17 digits before the check.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResidentId(u64);

/// Computes the GB 11643 (ISO 7064 MOD 11-2) check character of 17 digits.
pub fn resident_check(digits: &[u8; 17]) -> char {
    let sum: u32 = digits
        .iter()
        .zip(RID_WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    char::from(RID_CHECK[(sum % 11) as usize])
}

/// A birth date an ID may carry: a real date from 1850 to 2199.
fn birth_ok((y, m, d): (i32, u32, u32)) -> bool {
    (1850..=2199).contains(&y) && crate::time::valid_date(y, m, d)
}

impl ResidentId {
    /// Parses and validates an 18-character resident ID. A lower-case `x` is accepted.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        match Self::parse_valid(s.as_bytes()) {
            Some(id) => Ok(id),
            None => Self::parse_general(s),
        }
    }

    /// Every check, in order, naming the first that fails.
    fn parse_general(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        if b.len() != 18 {
            return Err(IdError::Length {
                kind: RESIDENT,
                expected: 18,
                found: s.chars().count(),
            });
        }
        let mut digits = [0u8; 17];
        for (i, (slot, &c)) in digits.iter_mut().zip(b.iter()).enumerate() {
            if !c.is_ascii_digit() {
                return Err(IdError::Character {
                    kind: RESIDENT,
                    pos: i + 1,
                    ch: char_at(s, i),
                });
            }
            *slot = c - b'0';
        }
        let last = b[17].to_ascii_uppercase();
        if !(last.is_ascii_digit() || last == b'X') {
            return Err(IdError::Character {
                kind: RESIDENT,
                pos: 18,
                ch: char_at(s, 17),
            });
        }
        let id = Self::from_digit_array(&digits)?;
        let expected = resident_check(&digits);
        if char::from(last) != expected {
            return Err(IdError::Check {
                kind: RESIDENT,
                found: char_at(s, 17),
                expected,
            });
        }
        Ok(id)
    }

    /// One pass over a valid ID (digits, value, weighted check sum), then the region and
    /// birth date: a third of the cost of the general path, which runs for every ingested
    /// event. `None` for anything it does not accept, and the general path then says why.
    fn parse_valid(b: &[u8]) -> Option<Self> {
        let b: &[u8; 18] = b.try_into().ok()?;
        let (mut v, mut sum) = (0u64, 0u32);
        for (&c, w) in b[..17].iter().zip(RID_WEIGHTS) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u64::from(d);
            sum += u32::from(d) * w;
        }
        if b[17].to_ascii_uppercase() != RID_CHECK[(sum % 11) as usize] || b[0] == b'0' {
            return None;
        }
        let id = ResidentId(v);
        birth_ok(id.birth()).then_some(id)
    }

    /// Validates the region and birth date of 17 digits (the check is computed, not read).
    fn from_digit_array(digits: &[u8; 17]) -> Result<Self, IdError> {
        let num =
            |r: std::ops::Range<usize>| digits[r].iter().fold(0u32, |a, &d| a * 10 + u32::from(d));
        if digits[0] == 0 {
            return Err(IdError::Region {
                region: format!("{:06}", num(0..6)),
            });
        }
        let (y, m, d) = (num(6..10), num(10..12), num(12..14));
        if !birth_ok((y as i32, m, d)) {
            return Err(IdError::BirthDate {
                date: format!("{y:04}{m:02}{d:02}"),
            });
        }
        Ok(ResidentId(
            digits.iter().fold(0u64, |a, &d| a * 10 + u64::from(d)),
        ))
    }

    /// Converts the old 15-digit form (two-digit year, no check) to the 18-character form.
    pub fn from_15(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        if b.len() != 15 {
            return Err(IdError::Length {
                kind: RESIDENT,
                expected: 15,
                found: s.chars().count(),
            });
        }
        if let Some(i) = b.iter().position(|c| !c.is_ascii_digit()) {
            return Err(IdError::Character {
                kind: RESIDENT,
                pos: i + 1,
                ch: char_at(s, i),
            });
        }
        let seventeen = format!("{}19{}", &s[..6], &s[6..]);
        let mut digits = [0u8; 17];
        for (slot, c) in digits.iter_mut().zip(seventeen.bytes()) {
            *slot = c - b'0';
        }
        let full = format!("{seventeen}{}", resident_check(&digits));
        Self::parse(&full)
    }

    /// The 17 digits before the check character.
    pub fn digits(self) -> u64 {
        self.0
    }

    /// Rebuilds an ID from its 17 digits (as returned by [`ResidentId::digits`]).
    /// Arithmetic only: it runs for every subject on replay.
    pub fn from_digits(d: u64) -> Result<Self, IdError> {
        if d >= 100_000_000_000_000_000 {
            return Err(IdError::Unrecognised);
        }
        Self::from_digit_array(&Self::split(d))
    }

    fn split(mut d: u64) -> [u8; 17] {
        let mut digits = [0u8; 17];
        for slot in digits.iter_mut().rev() {
            *slot = (d % 10) as u8;
            d /= 10;
        }
        digits
    }

    /// The six-digit region code (GB/T 2260).
    pub fn region(self) -> u32 {
        (self.0 / 100_000_000_000) as u32
    }

    /// The birth date as (year, month, day).
    pub fn birth(self) -> (i32, u32, u32) {
        let ymd = (self.0 / 1000) % 100_000_000;
        (
            (ymd / 10_000) as i32,
            ((ymd / 100) % 100) as u32,
            (ymd % 100) as u32,
        )
    }

    /// The sequence number's parity gives the sex: odd for men.
    pub fn is_male(self) -> bool {
        (self.0 % 1000) % 2 == 1
    }

    /// The ID as published on the court list: the four digits of the birth month and day starred.
    pub fn masked(self) -> String {
        let s = self.to_string();
        format!("{}****{}", &s[..10], &s[14..])
    }
}

impl ResidentId {
    /// The 18 characters as printed.
    fn chars(self) -> [u8; 18] {
        let digits = Self::split(self.0);
        let mut out = [0u8; 18];
        for (o, d) in out.iter_mut().zip(digits) {
            *o = b'0' + d;
        }
        out[17] = resident_check(&digits) as u8;
        out
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.chars();
        f.write_str(std::str::from_utf8(&c).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({self})")
    }
}

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(c: u8) -> Option<u32> {
    USCC_ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Computes the GB 32100 check character from the values of the first 17 characters.
pub fn credit_code_check(values: &[u32; 17]) -> char {
    let sum: u32 = values.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    char::from(USCC_ALPHABET[((31 - sum % 31) % 31) as usize])
}

/// A validated unified social credit code, packed base 31 (17 characters before the check).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(u128);

impl CreditCode {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        if b.len() != 18 {
            return Err(IdError::Length {
                kind: CREDIT,
                expected: 18,
                found: s.chars().count(),
            });
        }
        let mut values = [0u32; 17];
        let mut packed: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            let v = uscc_value(c.to_ascii_uppercase()).ok_or(IdError::Character {
                kind: CREDIT,
                pos: i + 1,
                ch: char_at(s, i),
            })?;
            if i < 17 {
                values[i] = v;
                packed = packed * 31 + u128::from(v);
            }
        }
        let expected = credit_code_check(&values);
        let found = char::from(b[17].to_ascii_uppercase());
        if found != expected {
            return Err(IdError::Check {
                kind: CREDIT,
                found: char_at(s, 17),
                expected,
            });
        }
        Ok(CreditCode(packed))
    }

    pub fn packed(self) -> u128 {
        self.0
    }

    pub fn from_packed(p: u128) -> Result<Self, IdError> {
        let mut values = [0u32; 17];
        let mut rest = p;
        for slot in values.iter_mut().rev() {
            *slot = (rest % 31) as u32;
            rest /= 31;
        }
        if rest != 0 {
            return Err(IdError::Unrecognised);
        }
        Ok(CreditCode(p))
    }

    fn chars(self) -> [u8; 18] {
        let mut values = [0u32; 17];
        let mut rest = self.0;
        for slot in values.iter_mut().rev() {
            *slot = (rest % 31) as u32;
            rest /= 31;
        }
        let mut out = [0u8; 18];
        for (o, v) in out.iter_mut().zip(values) {
            *o = USCC_ALPHABET[v as usize];
        }
        out[17] = credit_code_check(&values) as u8;
        out
    }

    /// The six-digit region code in positions 3–8.
    pub fn region(self) -> Option<u32> {
        let c = self.chars();
        std::str::from_utf8(&c[2..8]).ok()?.parse().ok()
    }

    /// Four characters of the organisation code starred, as for a resident ID.
    pub fn masked(self) -> String {
        let s = self.to_string();
        format!("{}****{}", &s[..10], &s[14..])
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.chars();
        f.write_str(std::str::from_utf8(&c).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CreditCode({self})")
    }
}

/// A subject: a person (resident ID) or a company (unified social credit code).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum SubjectId {
    Person(ResidentId),
    Company(CreditCode),
}

const COMPANY_TAG: u128 = 1 << 127;

impl SubjectId {
    /// Parses either kind. An all-digit body (with a final digit or `X`) is read as a
    /// resident ID, anything else as a credit code; the error names the kind tried.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        // A valid resident ID is the common case (every ingested event names a subject):
        // one pass, and the general path below only for anything else.
        if let Some(r) = ResidentId::parse_valid(b) {
            return Ok(SubjectId::Person(r));
        }
        if b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) {
            // A credit code may be all digits too: try the resident ID first, then the code.
            match ResidentId::parse(s) {
                Ok(r) => Ok(SubjectId::Person(r)),
                Err(e) => CreditCode::parse(s).map(SubjectId::Company).map_err(|_| e),
            }
        } else if b.len() == 18 {
            CreditCode::parse(s).map(SubjectId::Company)
        } else if b.len() == 15 && b.iter().all(u8::is_ascii_digit) {
            ResidentId::from_15(s).map(SubjectId::Person)
        } else {
            Err(IdError::Length {
                kind: "subject id",
                expected: 18,
                found: s.chars().count(),
            })
        }
    }

    /// A dense 128-bit key: a person's 17 digits, or a company's packed code with the top bit set.
    pub fn key(self) -> u128 {
        match self {
            SubjectId::Person(r) => u128::from(r.digits()),
            SubjectId::Company(c) => c.packed() | COMPANY_TAG,
        }
    }

    pub fn from_key(k: u128) -> Result<Self, IdError> {
        if k & COMPANY_TAG != 0 {
            CreditCode::from_packed(k & !COMPANY_TAG).map(SubjectId::Company)
        } else {
            let d = u64::try_from(k).map_err(|_| IdError::Unrecognised)?;
            ResidentId::from_digits(d).map(SubjectId::Person)
        }
    }

    /// Rebuilds an ID from a key that [`SubjectId::key`] produced, without re-validating
    /// (for derived state that only ever holds keys of accepted IDs). Any key gives some
    /// value; an invalid key gives a meaningless ID, never a panic.
    pub fn from_trusted_key(k: u128) -> Self {
        if k & COMPANY_TAG != 0 {
            SubjectId::Company(CreditCode(k & !COMPANY_TAG))
        } else {
            SubjectId::Person(ResidentId(k as u64))
        }
    }

    pub fn is_company(self) -> bool {
        matches!(self, SubjectId::Company(_))
    }

    /// The canonical 18 characters, as printed, without allocating.
    pub fn text(self) -> [u8; 18] {
        match self {
            SubjectId::Person(r) => r.chars(),
            SubjectId::Company(c) => c.chars(),
        }
    }

    pub fn masked(self) -> String {
        match self {
            SubjectId::Person(r) => r.masked(),
            SubjectId::Company(c) => c.masked(),
        }
    }

    pub fn region(self) -> Option<u32> {
        match self {
            SubjectId::Person(r) => Some(r.region()),
            SubjectId::Company(c) => c.region(),
        }
    }
}

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectId::Person(r) => r.fmt(f),
            SubjectId::Company(c) => c.fmt(f),
        }
    }
}

impl FromStr for SubjectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        SubjectId::parse(s)
    }
}

/// As its canonical text (a cluster's nodes send IDs to each other this way).
impl serde::Serialize for SubjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// From its text, checked as [`SubjectId::parse`] checks it.
impl<'de> serde::Deserialize<'de> for SubjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SubjectId::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn char_at(s: &str, byte_pos: usize) -> char {
    s.get(byte_pos..)
        .and_then(|t| t.chars().next())
        .unwrap_or('\u{FFFD}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_valid_resident_ids() {
        // The standard's worked example and IDs whose check digits were computed by hand.
        for s in [
            "11010519491231002X",
            "440524188001010014",
            "110101199003078515",
        ] {
            let id = ResidentId::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(id.to_string(), s);
        }
        let id = ResidentId::parse("11010519491231002x").unwrap();
        assert_eq!(id.to_string(), "11010519491231002X");
        assert_eq!(id.birth(), (1949, 12, 31));
        assert_eq!(id.region(), 110105);
        assert!(!id.is_male());
    }

    #[test]
    fn known_invalid_resident_ids() {
        assert_eq!(
            ResidentId::parse("110105194912310021"),
            Err(IdError::Check {
                kind: RESIDENT,
                found: '1',
                expected: 'X'
            })
        );
        assert!(matches!(
            ResidentId::parse("11010519491331002X"),
            Err(IdError::BirthDate { .. })
        ));
        assert!(matches!(
            ResidentId::parse("11010519490229002X"),
            Err(IdError::BirthDate { .. })
        ));
        assert!(matches!(
            ResidentId::parse("1101051949123100"),
            Err(IdError::Length { .. })
        ));
        assert!(matches!(
            ResidentId::parse("11010519491A31002X"),
            Err(IdError::Character { pos: 12, .. })
        ));
        assert_eq!(
            ResidentId::parse("110105194912310021")
                .unwrap_err()
                .to_string(),
            "resident id check character is '1' but should be 'X'"
        );
    }

    #[test]
    fn fifteen_digit_form_converts() {
        let id = ResidentId::from_15("110105491231002").unwrap();
        assert_eq!(id.to_string(), "11010519491231002X");
    }

    #[test]
    fn masking_stars_four_digits() {
        let id = ResidentId::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "1101051949****002X");
        assert_eq!(id.masked().matches('*').count(), 4);
    }

    #[test]
    fn known_credit_codes() {
        // Published codes of well-known companies.
        for s in [
            "91350100M000100Y43",
            "91110000802100433B",
            "9144030071526726XG",
        ] {
            let c = CreditCode::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(c.to_string(), s);
        }
        assert!(matches!(
            CreditCode::parse("91350100M000100Y44"),
            Err(IdError::Check { .. })
        ));
        assert!(matches!(
            CreditCode::parse("91350100I000100Y43"),
            Err(IdError::Character { pos: 9, .. })
        ));
        let sid = SubjectId::parse("91350100M000100Y43").unwrap();
        assert!(sid.is_company());
        assert_eq!(sid.region(), Some(350100));
    }

    fn arb_resident() -> impl Strategy<Value = String> {
        (
            110000u32..660000,
            1900i32..2020,
            1u32..13,
            1u32..29,
            0u32..1000,
        )
            .prop_map(|(r, y, m, d, seq)| {
                let body = format!("{r:06}{y:04}{m:02}{d:02}{seq:03}");
                let mut digits = [0u8; 17];
                for (slot, c) in digits.iter_mut().zip(body.bytes()) {
                    *slot = c - b'0';
                }
                format!("{body}{}", resident_check(&digits))
            })
    }

    fn arb_credit() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u32..31, 17).prop_map(|v| {
            let mut values = [0u32; 17];
            values.copy_from_slice(&v);
            let body: String = values
                .iter()
                .map(|&x| char::from(USCC_ALPHABET[x as usize]))
                .collect();
            format!("{body}{}", credit_code_check(&values))
        })
    }

    proptest! {
        #[test]
        fn resident_roundtrip(s in arb_resident()) {
            let id = ResidentId::parse(&s).unwrap();
            prop_assert_eq!(id.to_string(), s.clone());
            prop_assert_eq!(&SubjectId::Person(id).text(), s.as_bytes());
            prop_assert_eq!(SubjectId::from_key(SubjectId::Person(id).key()).unwrap(), SubjectId::Person(id));
            let m = id.masked();
            prop_assert_eq!(&m[..10], &s[..10]);
            prop_assert_eq!(&m[14..], &s[14..]);
        }

        #[test]
        fn any_single_digit_change_is_caught(s in arb_resident(), pos in 0usize..17, delta in 1u8..10) {
            let mut b = s.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let t = String::from_utf8(b).unwrap();
            // MOD 11-2 detects every single-digit substitution.
            prop_assert!(ResidentId::parse(&t).is_err());
        }

        #[test]
        fn credit_roundtrip(s in arb_credit()) {
            let c = CreditCode::parse(&s).unwrap();
            prop_assert_eq!(c.to_string(), s.clone());
            prop_assert_eq!(&SubjectId::Company(c).text(), s.as_bytes());
            prop_assert_eq!(SubjectId::from_key(SubjectId::Company(c).key()).unwrap(), SubjectId::Company(c));
        }

        #[test]
        fn credit_single_change_is_caught(s in arb_credit(), pos in 0usize..17, delta in 1u32..31) {
            let mut b = s.into_bytes();
            let v = uscc_value(b[pos]).unwrap();
            b[pos] = USCC_ALPHABET[((v + delta) % 31) as usize];
            let t = String::from_utf8(b).unwrap();
            prop_assert!(CreditCode::parse(&t).is_err());
        }

        // The one-pass fast path accepts exactly what the general path accepts, with the
        // same value, for valid IDs and for IDs with one byte changed to anything.
        #[test]
        fn fast_path_agrees_with_general(
            s in arb_resident(), pos in 0usize..19, byte in prop_oneof![b'0'..=b'9', Just(b'X'), Just(b'x'), any::<u8>()],
        ) {
            let mut b = s.into_bytes();
            if pos < 18 {
                b[pos] = byte;
            }
            if let Ok(s) = std::str::from_utf8(&b) {
                prop_assert_eq!(
                    ResidentId::parse_valid(s.as_bytes()).ok_or(()),
                    ResidentId::parse_general(s).map_err(|_| ())
                );
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = SubjectId::parse(&s);
        }
    }
}
