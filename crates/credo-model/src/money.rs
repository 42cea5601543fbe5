//! Money in whole fen (1/100 yuan), so sums are exact.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Amount(pub i64);

/// The largest amount accepted on input: ¥10 trillion.
pub const MAX_YUAN: f64 = 1e13;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is not a finite number")]
    NotFinite,
    #[error("amount {0} is negative")]
    Negative(f64),
    #[error("amount {0} is larger than the maximum of 1e13 yuan")]
    TooLarge(f64),
}

impl Amount {
    /// From a yuan figure as sent on the wire, rounded to the fen.
    pub fn from_yuan(y: f64) -> Result<Amount, AmountError> {
        if !y.is_finite() {
            return Err(AmountError::NotFinite);
        }
        if y < 0.0 {
            return Err(AmountError::Negative(y));
        }
        if y > MAX_YUAN {
            return Err(AmountError::TooLarge(y));
        }
        Ok(Amount((y * 100.0).round() as i64))
    }

    pub fn yuan(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}.{:02}", self.0 / 100, (self.0 % 100).abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_limits() {
        assert_eq!(Amount::from_yuan(12.345).unwrap(), Amount(1235));
        assert_eq!(Amount::from_yuan(0.1 + 0.2).unwrap(), Amount(30));
        assert!(Amount::from_yuan(f64::NAN).is_err());
        assert!(Amount::from_yuan(f64::INFINITY).is_err());
        assert!(Amount::from_yuan(-1.0).is_err());
        assert!(Amount::from_yuan(2e13).is_err());
        assert_eq!(Amount(123456).to_string(), "¥1234.56");
    }
}
