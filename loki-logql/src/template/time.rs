//! Times in templates: Go layouts (`2006-01-02T15:04:05Z07:00`) for
//! formatting and parsing, in UTC or a fixed offset.

use std::fmt::Write as _;

type R<T> = Result<T, String>;

pub(crate) fn zone_offset(zone: &str) -> R<i64> {
    match zone {
        "" | "UTC" | "Local" | "GMT" | "Etc/UTC" => Ok(0),
        z => {
            let (sign, rest) = match z.as_bytes().first() {
                Some(b'+') => (1, &z[1..]),
                Some(b'-') => (-1, &z[1..]),
                _ => return Err(format!("unknown time zone {z}")),
            };
            let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return Err(format!("unknown time zone {z}"));
            }
            let h: i64 = digits[..2].parse().unwrap_or(0);
            let m: i64 = digits[2..].parse().unwrap_or(0);
            Ok(sign * (h * 3600 + m * 60))
        }
    }
}

/// Days since 1970-01-01 to (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Layout tokens of Go's `time` package, longest first.
const TOKENS: [&str; 24] = [
    "January",
    "Monday",
    "2006",
    "Jan",
    "Mon",
    "MST",
    "Z07:00",
    "-07:00",
    "-0700",
    ".000000000",
    ".000000",
    ".000",
    ".999999999",
    ".999999",
    ".999",
    "01",
    "02",
    "15",
    "03",
    "04",
    "05",
    "PM",
    "_2",
    "06",
];

/// Formats a UTC time with a Go layout.
pub(crate) fn format_time(ns: i64, layout: &str, out: &mut String) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let (h, mi, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for t in TOKENS {
            if let Some(r) = rest.strip_prefix(t) {
                let _ = match t {
                    "January" => write!(out, "{}", MONTHS[mo as usize - 1]),
                    "Jan" => write!(out, "{}", &MONTHS[mo as usize - 1][..3]),
                    "Monday" => write!(out, "{}", DAYS[days.rem_euclid(7) as usize]),
                    "Mon" => write!(out, "{}", &DAYS[days.rem_euclid(7) as usize][..3]),
                    "2006" => write!(out, "{y:04}"),
                    "06" => write!(out, "{:02}", y.rem_euclid(100)),
                    "01" => write!(out, "{mo:02}"),
                    "02" => write!(out, "{d:02}"),
                    "_2" => write!(out, "{d:>2}"),
                    "15" => write!(out, "{h:02}"),
                    "03" => write!(out, "{:02}", if h % 12 == 0 { 12 } else { h % 12 }),
                    "04" => write!(out, "{mi:02}"),
                    "05" => write!(out, "{s:02}"),
                    "PM" => write!(out, "{}", if h >= 12 { "PM" } else { "AM" }),
                    "MST" => write!(out, "UTC"),
                    "Z07:00" => write!(out, "Z"),
                    "-07:00" => write!(out, "+00:00"),
                    "-0700" => write!(out, "+0000"),
                    ".000" => write!(out, ".{:03}", frac / 1_000_000),
                    ".000000" => write!(out, ".{:06}", frac / 1_000),
                    ".000000000" => write!(out, ".{frac:09}"),
                    _ => {
                        // .999…: trailing zeros trimmed, nothing when zero.
                        let digits = t.len() - 1;
                        let v = format!("{frac:09}");
                        let v = v[..digits].trim_end_matches('0');
                        if v.is_empty() {
                            Ok(())
                        } else {
                            write!(out, ".{v}")
                        }
                    }
                };
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
}

/// Parses `value` with a Go layout; the zone offset (seconds) applies when
/// the layout has none.
pub(crate) fn parse_time(layout: &str, value: &str, offset: i64) -> R<i64> {
    let err = || format!("parsing time {value:?} as {layout:?}: cannot parse");
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut frac, mut pm) =
        (1i64, 1u32, 1u32, 0i64, 0i64, 0i64, 0i64, None);
    let mut off = offset;
    let mut l = layout;
    let mut v = value;
    let num = |v: &mut &str, n: usize| -> R<i64> {
        let t = v.get(..n).ok_or_else(err)?;
        let x = t.trim_start().parse::<i64>().map_err(|_| err())?;
        *v = &v[n..];
        Ok(x)
    };
    'outer: while !l.is_empty() {
        for t in TOKENS {
            if let Some(r) = l.strip_prefix(t) {
                match t {
                    "2006" => y = num(&mut v, 4)?,
                    "06" => y = 2000 + num(&mut v, 2)?,
                    "01" => mo = num(&mut v, 2)? as u32,
                    "02" | "_2" => d = num(&mut v, 2)? as u32,
                    "15" => h = num(&mut v, 2)?,
                    "03" => h = num(&mut v, 2)?,
                    "04" => mi = num(&mut v, 2)?,
                    "05" => s = num(&mut v, 2)?,
                    "PM" => {
                        pm = Some(v.starts_with("PM"));
                        v = v.get(2..).ok_or_else(err)?;
                    }
                    "Jan" | "January" => {
                        let i = MONTHS
                            .iter()
                            .position(|m| v.starts_with(if t == "Jan" { &m[..3] } else { m }))
                            .ok_or_else(err)?;
                        mo = i as u32 + 1;
                        v = &v[if t == "Jan" { 3 } else { MONTHS[i].len() }..];
                    }
                    "Mon" | "Monday" => {
                        let n = v.find(|c: char| !c.is_alphabetic()).unwrap_or(v.len());
                        v = &v[n..];
                    }
                    "MST" => {
                        let n = v.find(|c: char| !c.is_ascii_uppercase()).unwrap_or(v.len());
                        v = &v[n..];
                        off = 0;
                    }
                    "Z07:00" | "-07:00" | "-0700" => {
                        if let Some(r) = v.strip_prefix('Z') {
                            v = r;
                            off = 0;
                        } else {
                            let n = if t == "-0700" { 5 } else { 6 };
                            let z = v.get(..n).ok_or_else(err)?;
                            off = zone_offset(z)?;
                            v = &v[n..];
                        }
                    }
                    _ => {
                        // fractional seconds
                        let body = v.strip_prefix(['.', ',']).ok_or_else(err)?;
                        let n = body
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(body.len());
                        let digits = format!("{:0<9}", &body[..n.min(9)]);
                        frac = digits.parse().map_err(|_| err())?;
                        v = &body[n..];
                    }
                }
                l = r;
                continue 'outer;
            }
        }
        let c = l.chars().next().unwrap_or(' ');
        v = v.strip_prefix(c).ok_or_else(err)?;
        l = &l[c.len_utf8()..];
    }
    // Seconds may carry a fraction even when the layout has none.
    if let Some(body) = v.strip_prefix('.') {
        let n = body
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(body.len());
        frac = format!("{:0<9}", &body[..n.min(9)]).parse().unwrap_or(0);
        v = &body[n..];
    }
    if !v.is_empty() {
        return Err(format!("parsing time {value:?}: extra text {v:?}"));
    }
    if let Some(pm) = pm {
        h = h % 12 + if pm { 12 } else { 0 };
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(err());
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - off;
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(frac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_time("2006-01-02T15:04:05Z07:00", "2023-11-14T22:13:20Z", 0).unwrap();
        assert_eq!(t, 1_700_000_000_000_000_000);
        let mut out = String::new();
        format_time(t, "2006-01-02 15:04:05.000 Mon Jan", &mut out);
        assert_eq!(out, "2023-11-14 22:13:20.000 Tue Nov");
        assert_eq!(zone_offset("+02:00").unwrap(), 7200);
    }
}
