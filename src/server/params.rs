//! Query parameters as Loki reads them: from the URL or a form body, with
//! Loki's time, duration, limit and direction rules.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use loki_logql::Direction;

use super::ApiError;

/// Parameters from the query string and, for form POSTs, the body.
pub(crate) fn collect(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> HashMap<String, String> {
    let mut params: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    }
    params
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A timestamp: float seconds, integer seconds (≤ 10 digits), integer
/// nanoseconds, or RFC 3339.
pub(crate) fn time(value: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::bad_request(format!("cannot parse \"{value}\" to a valid timestamp"));
    if value.contains('.') {
        if let Ok(secs) = value.parse::<f64>() {
            return Ok(((secs * 1000.0).round() as i64) * 1_000_000);
        }
    }
    if let Ok(n) = value.parse::<i64>() {
        let digits = value.trim_start_matches('-').len();
        return Ok(if digits <= 10 {
            n.saturating_mul(1_000_000_000)
        } else {
            n
        });
    }
    // RFC 3339 with a numeric offset (`+02:00`): read the local time as UTC,
    // then subtract the offset.
    let (local, offset_ns) = match value.len().checked_sub(6).map(|i| value.split_at(i)) {
        Some((local, offset))
            if local.contains('T')
                && matches!(offset.as_bytes(), [b'+' | b'-', _, _, b':', _, _]) =>
        {
            let hours: i64 = offset[1..3].parse().map_err(|_| bad())?;
            let minutes: i64 = offset[4..6].parse().map_err(|_| bad())?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            (local, sign * (hours * 3600 + minutes * 60) * 1_000_000_000)
        }
        _ => (value, 0),
    };
    let t = humantime::parse_rfc3339_weak(local.trim_end_matches(['Z', 'z'])).map_err(|_| bad())?;
    let d = t.duration_since(UNIX_EPOCH).map_err(|_| bad())?;
    i64::try_from(d.as_nanos())
        .map_err(|_| bad())
        .map(|ns| ns - offset_ns)
}

/// An RFC 3339 timestamp (`Z` or a numeric offset, up to nanoseconds).
pub(crate) fn rfc3339(value: &str) -> Option<i64> {
    if !value.contains('T') {
        return None;
    }
    time(value).ok()
}

/// A duration in nanoseconds: float seconds, or a Prometheus duration
/// such as `1h30m` (units `ms s m h d w y`).
pub(crate) fn duration(value: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::bad_request(format!("cannot parse \"{value}\" to a valid duration"));
    if let Ok(secs) = value.parse::<f64>() {
        return Ok((secs * 1e9) as i64);
    }
    let mut total: i64 = 0;
    let mut rest = value;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit: i64 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 7 * 86_400_000_000_000,
            "y" => 365 * 86_400_000_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// `start` and `end` with Loki's defaults: `end` now, `start` `since`
/// (default 1h) before it.
pub(crate) fn range(params: &HashMap<String, String>) -> Result<(i64, i64), ApiError> {
    let now = now_ns();
    let end = match params.get("end").filter(|v| !v.is_empty()) {
        Some(v) => time(v)?,
        None => now,
    };
    let start = match params.get("start").filter(|v| !v.is_empty()) {
        Some(v) => time(v)?,
        None => {
            let since = match params.get("since").filter(|v| !v.is_empty()) {
                Some(v) => duration(v)?,
                None => 3_600_000_000_000,
            };
            end.min(now).saturating_sub(since)
        }
    };
    if end.checked_sub(start).is_none() {
        return Err(ApiError::bad_request(
            "the query time range does not fit in 64-bit nanoseconds",
        ));
    }
    if end < start {
        return Err(ApiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start, end))
}

pub(crate) fn limit(params: &HashMap<String, String>) -> Result<usize, ApiError> {
    match params.get("limit").filter(|v| !v.is_empty()) {
        None => Ok(100),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ApiError::bad_request("limit must be a positive value")),
        },
    }
}

pub(crate) fn direction(params: &HashMap<String, String>) -> Result<Direction, ApiError> {
    match params.get("direction").map(|v| v.to_ascii_lowercase()) {
        None => Ok(Direction::Backward),
        Some(v) if v.is_empty() || v == "backward" => Ok(Direction::Backward),
        Some(v) if v == "forward" => Ok(Direction::Forward),
        Some(_) => Err(ApiError::bad_request("invalid direction")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_follow_loki() {
        assert_eq!(time("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(time("1700000000.5").unwrap(), 1_700_000_000_500_000_000);
        assert_eq!(
            time("1700000000123456789").unwrap(),
            1_700_000_000_123_456_789
        );
        assert_eq!(
            time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            time("2023-11-14T22:13:20.123456789Z").unwrap(),
            1_700_000_000_123_456_789
        );
        assert_eq!(
            time("2023-11-15T00:13:20+02:00").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            time("2023-11-14T21:13:20.5-01:00").unwrap(),
            1_700_000_000_500_000_000
        );
        assert!(time("yesterday").is_err());
        assert!(time("2023-11-14T22:13:20+2:00").is_err());
        assert_eq!(duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(duration("0.5").unwrap(), 500_000_000);
        assert_eq!(duration("250ms").unwrap(), 250_000_000);
        assert!(duration("5 minutes").is_err());
        assert!(duration("").is_err());
    }
}
