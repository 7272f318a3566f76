//! Byte quantities as people write them in settings: `"512MiB"`, `"2 GiB"`, `"64MB"`, `1048576`.

use std::str::FromStr;

/// The byte quantity of settings and job options (defined with the job model, where it
/// serialises); parsed by [`parse_bytes`] whether it comes from TOML, HOCON, a flag or a
/// `WEIR_*` variable.
pub use crate::config::ByteSize;

impl FromStr for ByteSize {
    type Err = InvalidByteSize;

    /// The same parse as the serde form (for clap's `value_parser`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_bytes(text).map(ByteSize)
    }
}

impl std::fmt::Display for ByteSize {
    /// The largest binary unit that divides it exactly (`512MiB`), else bytes (`1000`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.0;
        let unit = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)]
            .into_iter()
            .find(|(_, shift)| bytes != 0 && bytes.trailing_zeros() >= *shift);
        match unit {
            Some((name, shift)) => write!(f, "{}{name}", bytes >> shift),
            None => write!(f, "{bytes}"),
        }
    }
}

/// A byte quantity that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{text}' is not a byte size: write a number of bytes or a number with a unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), e.g. \"512MiB\""
)]
pub struct InvalidByteSize {
    pub text: String,
}

/// Parses a byte quantity. Binary units (KiB = 1024) and decimal units (KB = 1000) are both
/// accepted; fractions are allowed with a unit (`"1.5GiB"`).
pub fn parse_bytes(text: &str) -> Result<u64, InvalidByteSize> {
    let invalid = || InvalidByteSize {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => return Err(invalid()),
    };
    if number.is_empty() {
        return Err(invalid());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(invalid);
    }
    let fractional: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = fractional * multiplier as f64;
    if bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64 {
        Ok(bytes.round() as u64)
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("64MB"), Ok(64_000_000));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_bytes(" 10 kib "), Ok(10 << 10));
    }

    #[test]
    fn byte_sizes_parse_and_print_alike() {
        assert_eq!("2GiB".parse::<ByteSize>(), Ok(ByteSize(2 << 30)));
        assert_eq!(ByteSize(2 << 30).to_string(), "2GiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(ByteSize(0).to_string(), "0");
        assert!("two gigs".parse::<ByteSize>().is_err());
    }

    #[test]
    fn nonsense_is_refused_with_a_hint() {
        for text in ["", "MiB", "12 parsecs", "1.2.3MiB", "-5MiB"] {
            let error = parse_bytes(text).unwrap_err();
            assert!(error.to_string().contains("512MiB"), "{error}");
        }
    }
}
