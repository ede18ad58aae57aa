//! The `Duration` scalar: ISO 8601 durations such as `PT6H` or `-PT15M`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A signed duration in whole seconds, written in ISO 8601.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsoDuration(pub i64);

impl From<chrono::Duration> for IsoDuration {
    fn from(d: chrono::Duration) -> Self {
        Self(d.num_seconds())
    }
}

impl IsoDuration {
    /// As a chrono duration ([`parse_iso`] admits only what fits, so nothing saturates in practice).
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::try_seconds(self.0).unwrap_or(if self.0 < 0 {
            chrono::Duration::MIN
        } else {
            chrono::Duration::MAX
        })
    }
}

/// ISO 8601 duration (`PT6H`, `P7D`, `-PT15M`); negative means overdue.
#[Scalar(name = "Duration", specified_by_url = "https://en.wikipedia.org/wiki/ISO_8601#Durations")]
impl ScalarType for IsoDuration {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_iso(s).map(IsoDuration).ok_or_else(|| {
                InputValueError::custom(format!("{s:?} is not an ISO 8601 duration like PT6H"))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_iso(self.0))
    }
}

/// Parses `[-]P[nW][nD][T[nH][nM][nS]]` with whole numbers.
pub fn parse_iso(s: &str) -> Option<i64> {
    let (negative, rest) = match s.trim().strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.trim()),
    };
    let rest = rest.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    if time == Some("") || (date.is_empty() && time.is_none()) {
        return None;
    }
    let mut total: i64 = 0;
    let mut eat = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        let mut next_unit = 0;
        for ch in part.chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let pos = units.iter().position(|(u, _)| *u == ch)?;
            if pos < next_unit || number.is_empty() {
                return None;
            }
            next_unit = pos + 1;
            total = total.checked_add(number.parse::<i64>().ok()?.checked_mul(units[pos].1)?)?;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    eat(date, &[('W', 604_800), ('D', 86_400)])?;
    if let Some(t) = time {
        eat(t, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    // Beyond about 290,000 years a duration no longer fits chrono's range.
    chrono::Duration::try_seconds(total)?;
    Some(if negative { -total } else { total })
}

/// Formats seconds as `PT#H#M#S` (days are written as hours: deadlines read in hours).
pub fn format_iso(seconds: i64) -> String {
    if seconds == 0 {
        return "PT0S".into();
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let a = seconds.unsigned_abs();
    let (h, m, s) = (a / 3600, a % 3600 / 60, a % 60);
    let mut out = format!("{sign}PT");
    if h > 0 {
        out += &format!("{h}H");
    }
    if m > 0 {
        out += &format!("{m}M");
    }
    if s > 0 {
        out += &format!("{s}S");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (text, secs) in
            [("PT6H", 21_600), ("PT1H30M", 5_400), ("-PT15M", -900), ("PT168H", 604_800), ("PT0S", 0)]
        {
            assert_eq!(parse_iso(text), Some(secs), "{text}");
            assert_eq!(format_iso(secs), text);
        }
        assert_eq!(parse_iso("P7D"), Some(604_800));
        assert_eq!(parse_iso("P1W"), Some(604_800));
        for bad in ["", "P", "PT", "6H", "PTH", "PT1M1H", "P1H"] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }
}
