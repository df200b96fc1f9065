//! Times: conversion from ASN.1 UTCTime/GeneralizedTime and display in Vietnam time (+07:00,
//! no daylight saving).

use time::{OffsetDateTime, UtcOffset};

/// Vietnam's offset from UTC.
pub const VIETNAM: UtcOffset = match UtcOffset::from_hms(7, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// Converts an X.509 `Time`.
pub fn from_x509(t: &x509_cert::time::Time) -> OffsetDateTime {
    from_unix(t.to_unix_duration().as_secs() as i64)
}

/// Converts a `GeneralizedTime`.
pub fn from_generalized(t: &der::asn1::GeneralizedTime) -> OffsetDateTime {
    from_unix(t.to_unix_duration().as_secs() as i64)
}

/// Seconds since the epoch to a UTC time (saturating at the representable range).
pub fn from_unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(if secs < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(365 * 8000)
    })
}

/// `YYYY-MM-DDTHH:MM:SS` of `t` at `offset`, followed by `suffix`.
fn iso(t: OffsetDateTime, offset: UtcOffset, suffix: &str) -> String {
    let t = t.to_offset(offset);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{suffix}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339 in UTC (`2025-03-20T03:00:00Z`).
pub fn rfc3339_utc(t: OffsetDateTime) -> String {
    iso(t, UtcOffset::UTC, "Z")
}

/// ISO 8601 in Vietnam time, as Decree 30/2020 prescribes (`2025-03-20T10:00:00+07:00`).
pub fn vietnam(t: OffsetDateTime) -> String {
    iso(t, VIETNAM, "+07:00")
}

/// Parses a user-given time: RFC 3339 (`2025-03-20T10:00:00+07:00`, `...Z`), a date-time without
/// zone (taken as Vietnam time, as Vietnamese documents do), or a date (`2025-03-20`, midnight
/// Vietnam time).
pub fn parse_user_time(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let fmt_dt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let fmt_dt_space =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if let Ok(t) = time::PrimitiveDateTime::parse(s, fmt_dt)
        .or_else(|_| time::PrimitiveDateTime::parse(s, fmt_dt_space))
    {
        return Some(t.assume_offset(VIETNAM));
    }
    let fmt_d = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, fmt_d)
        .ok()
        .map(|d| d.midnight().assume_offset(VIETNAM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_vietnam_time() {
        let t = parse_user_time("2025-03-20T03:00:00Z").unwrap();
        assert_eq!(vietnam(t), "2025-03-20T10:00:00+07:00");
        assert_eq!(rfc3339_utc(t), "2025-03-20T03:00:00Z");
        let local = parse_user_time("2022-07-21T15:26:46").unwrap();
        assert_eq!(rfc3339_utc(local), "2022-07-21T08:26:46Z");
        assert_eq!(
            rfc3339_utc(parse_user_time("2025-01-01").unwrap()),
            "2024-12-31T17:00:00Z"
        );
        assert!(parse_user_time("yesterday").is_none());
    }
}
