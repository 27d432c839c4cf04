//! The vocabulary of settings, shared by the crates that own them.
//!
//! Each crate keeps its own settings (the default, the valid range, the check and the doc
//! sit on its config type: `boomerang_http::ServerConfig`, `boomerang_stack::TcpConfig`,
//! `boomerang_stack::Limits`); this crate only gives them a common way to read what people
//! write and to say what is wrong:
//!
//! - sizes as a byte count or with a binary suffix (`262144`, `"256K"`, `"4MiB"`, `"1G"`):
//!   [`parse_bytes`], [`bytes`] (serde);
//! - durations as a string with a unit (`"10s"`, `"250ms"`, `"2.5s"`, `"1m"`) or whole
//!   seconds: [`parse_duration`], [`duration`] (serde);
//! - [`OutOfRange`]: a value outside its setting's range, naming the setting (its key in
//!   the configuration file) and the range allowed, and [`check_bytes`], [`check_count`],
//!   [`check_duration`] that build it.

use std::fmt;
use std::time::Duration;

/// Longest duration [`parse_duration`] accepts: a year.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400 * 365);

/// Parses a duration: `250ms`, `10s`, `2.5s`, `2m`, `1h`, `500us`, `100ns`, or a bare number
/// of seconds. Whole numbers are exact; fractions go through `f64`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let not_a_duration = || format!("`{s}` is not a duration (try 10s, 500ms, 2m)");
    let out_of_range = || format!("`{s}` is out of range");
    // (nanoseconds per unit)
    let per_unit: u64 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => {
            if num.parse::<f64>().is_err() {
                return Err(not_a_duration());
            }
            return Err(format!(
                "unknown unit in `{s}` (use ms, s, m or h; us and ns also work)"
            ));
        }
    };
    let d = if num.contains('.') {
        let value: f64 = num.parse().map_err(|_| not_a_duration())?;
        let secs = value * per_unit as f64 / 1e9;
        if !secs.is_finite() || !(0.0..=MAX_DURATION.as_secs_f64()).contains(&secs) {
            return Err(out_of_range());
        }
        Duration::from_secs_f64(secs)
    } else {
        let value: u64 = num.parse().map_err(|_| {
            if num.is_empty() {
                not_a_duration()
            } else {
                out_of_range()
            }
        })?;
        let nanos = u128::from(value) * u128::from(per_unit);
        let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| out_of_range())?;
        Duration::new(secs, (nanos % 1_000_000_000) as u32)
    };
    if d > MAX_DURATION {
        return Err(out_of_range());
    }
    Ok(d)
}

/// Writes a duration exactly, in the largest unit that divides it (`10s`, `250ms`, `7ns`),
/// in a form [`parse_duration`] reads back to the same value.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    for (unit, per) in [("s", 1_000_000_000u128), ("ms", 1_000_000), ("us", 1_000)] {
        if nanos.is_multiple_of(per) {
            return format!("{}{unit}", nanos / per);
        }
    }
    format!("{nanos}ns")
}

/// Parses a byte count: `262144`, or with a binary suffix `256K`/`256KiB`, `4M`/`4MiB`,
/// `1G`/`1GiB` (case does not matter; every suffix is a power of 1024).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a byte count (try 262144, 256K or 4M)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit in `{s}` (use K, M or G for KiB, MiB or GiB, or plain bytes)"
            ))
        }
    };
    n.checked_mul(multiplier)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("`{s}` is out of range"))
}

/// Writes a byte count short when a binary suffix divides it (`4K`, `256K`, `1G`), else as
/// a plain number.
pub fn format_bytes(n: usize) -> String {
    for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] {
        if n != 0 && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// A setting's value outside the range it allows.
///
/// `Display` gives `KEY VALUE: use RANGE ADVICE`, e.g. `snd-buf 1024: use 4096..=1073741824
/// bytes (4K to 1G); for full speed …`; a program that reads the setting from a flag writes
/// its own name for it (`--snd-buf`) with [`OutOfRange::message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message(self.setting))]
pub struct OutOfRange {
    /// The setting's key in the configuration file (kebab-case, e.g. `snd-buf`).
    pub setting: &'static str,
    /// The value given, as it is printed (`1024`, `99ms`).
    pub value: String,
    /// The values allowed, e.g. `4096..=1073741824 bytes (4K to 1G)` or `100ms..=3600s`.
    pub allowed: String,
    /// What to consider, appended as is (empty, or starting with `; ` or ` (`).
    pub advice: String,
}

impl OutOfRange {
    /// The message with the setting called `name` (a flag such as `--snd-buf`, or the key).
    pub fn message(&self, name: &str) -> String {
        format!("{name} {}: use {}{}", self.value, self.allowed, self.advice)
    }
}

/// Checks a byte count against `min..=max`; the message shows both in bytes and short.
pub fn check_bytes(
    setting: &'static str,
    value: usize,
    min: usize,
    max: usize,
    advice: &str,
) -> Result<(), OutOfRange> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(OutOfRange {
        setting,
        value: value.to_string(),
        allowed: format!(
            "{min}..={max} bytes ({} to {})",
            format_bytes(min),
            format_bytes(max)
        ),
        advice: advice.into(),
    })
}

/// Checks a count of `unit`s (`segments`, `threads`) against `min..=max`.
pub fn check_count<T>(
    setting: &'static str,
    value: T,
    min: T,
    max: T,
    unit: &str,
    advice: &str,
) -> Result<(), OutOfRange>
where
    T: PartialOrd + fmt::Display + Copy,
{
    if min <= value && value <= max {
        return Ok(());
    }
    Err(OutOfRange {
        setting,
        value: value.to_string(),
        allowed: if unit.is_empty() {
            format!("{min}..={max}")
        } else {
            format!("{min}..={max} {unit}")
        },
        advice: advice.into(),
    })
}

/// Checks a duration against `min..=max`; the message shows the value as `Duration`'s
/// `Debug` (`99ms`, `0ns`) and the range in the units of [`format_duration`].
pub fn check_duration(
    setting: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
    advice: &str,
) -> Result<(), OutOfRange> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(OutOfRange {
        setting,
        value: format!("{value:?}"),
        allowed: format!("{}..={}", format_duration(min), format_duration(max)),
        advice: advice.into(),
    })
}

/// Serde form of a byte count: an integer, or a string parsed by [`parse_bytes`]
/// (`#[serde(with = "boomerang_settings::bytes")]`); written as an integer.
pub mod bytes {
    use std::fmt;

    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;

    /// Reads an integer or a string such as `"256K"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = usize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count: an integer, or a string like \"256K\" or \"4M\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
                usize::try_from(v).map_err(|_| E::custom(format!("{v} is not a byte count")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
                usize::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
                super::parse_bytes(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Bytes)
    }

    /// Writes the count as an integer.
    pub fn serialize<S: Serializer>(v: &usize, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v as u64)
    }
}

/// Serde form of a duration: a string parsed by [`parse_duration`] (`"10s"`, `"500ms"`) or
/// an integer number of seconds (`#[serde(with = "boomerang_settings::duration")]`);
/// written by [`format_duration`].
pub mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;

    /// Reads `"10s"`, `"250ms"` or whole seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct Dur;
        impl Visitor<'_> for Dur {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: a string like \"10s\" or \"500ms\", or whole seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not a duration")))
                    .and_then(|s| self.visit_u64(s))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                let d = Duration::from_secs(v);
                if d > super::MAX_DURATION {
                    return Err(E::custom(format!("{v} seconds is out of range")));
                }
                Ok(d)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                super::parse_duration(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Dur)
    }

    /// Writes the duration as a string such as `"250ms"`.
    pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*v))
    }
}

/// Serde form of an optional byte count (see [`bytes`]); `None` is written as nothing
/// (with `skip_serializing_if = "Option::is_none"`).
pub mod opt_bytes {
    use serde::{Deserializer, Serializer};

    /// Reads a byte count.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        super::bytes::deserialize(d).map(Some)
    }

    /// Writes the count, or a unit for `None`.
    pub fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::bytes::serialize(v, s),
            None => s.serialize_none(),
        }
    }
}

/// Serde form of an optional duration (see [`duration`]); `None` is written as nothing
/// (with `skip_serializing_if = "Option::is_none"`).
pub mod opt_duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Reads a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration::deserialize(d).map(Some)
    }

    /// Writes the duration, or a unit for `None`.
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::duration::serialize(v, s),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_exactly() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("1500us"), Ok(Duration::from_micros(1500)));
        for bad in ["ten", "5y", "", "-5", "1.2.3s", "366d", "8761h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("5y").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn durations_round_trip_through_their_text() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(7),
            Duration::from_micros(1500),
            Duration::from_millis(2500),
            Duration::from_secs(3600),
            Duration::new(1, 1),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
    }

    #[test]
    fn bytes_parse_and_format() {
        assert_eq!(parse_bytes("256K"), Ok(256 * 1024));
        assert_eq!(parse_bytes("4MiB"), Ok(4 << 20));
        assert!(parse_bytes("4T").unwrap_err().contains("unknown unit"));
        assert_eq!(format_bytes(4096), "4K");
        assert_eq!(format_bytes(1 << 30), "1G");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
    }

    #[test]
    fn out_of_range_names_the_setting_and_the_range() {
        let e = check_bytes("snd-buf", 1024, 4096, 1 << 30, "; more").unwrap_err();
        assert_eq!(
            e.to_string(),
            "snd-buf 1024: use 4096..=1073741824 bytes (4K to 1G); more"
        );
        assert!(e
            .message("--snd-buf")
            .starts_with("--snd-buf 1024: use 4096"));
        let e = check_count("initial-cwnd", 0u32, 1, 1000, "segments", "").unwrap_err();
        assert_eq!(e.to_string(), "initial-cwnd 0: use 1..=1000 segments");
        let e = check_duration(
            "keepalive-timeout",
            Duration::from_millis(99),
            Duration::from_millis(100),
            Duration::from_secs(3600),
            "",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "keepalive-timeout 99ms: use 100ms..=3600s");
        assert!(check_count("x", 5usize, 5, 5, "", "").is_ok());
    }

    #[test]
    fn serde_forms_read_what_people_write() {
        #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
        struct T {
            #[serde(with = "bytes")]
            b: usize,
            #[serde(with = "duration")]
            d: Duration,
        }
        let t: T = toml::from_str("b = \"4M\"\nd = \"250ms\"\n").expect("parses");
        assert_eq!(
            t,
            T {
                b: 4 << 20,
                d: Duration::from_millis(250)
            }
        );
        let t: T = toml::from_str("b = 4096\nd = 3\n").expect("parses");
        assert_eq!(t.d, Duration::from_secs(3));
        let back: T = toml::from_str(&toml::to_string(&t).expect("writes")).expect("parses");
        assert_eq!(back, t);
        for (text, want) in [
            ("b = -1\nd = 1\n", "not a byte count"),
            ("b = true\nd = 1\n", "byte count"),
            ("b = 1\nd = -5\n", "not a duration"),
            ("b = 1\nd = \"soon\"\n", "not a duration"),
        ] {
            let e = toml::from_str::<T>(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
