//! `ip("…")` arguments: a single address, an `a-b` range or a CIDR block,
//! IPv4 or IPv6, as used by line filters and label filters.

use std::net::IpAddr;

/// A compiled `ip()` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpMatcher {
    /// Inclusive range (a single address is `a..=a`, a CIDR its block).
    V4(u32, u32),
    /// Inclusive IPv6 range.
    V6(u128, u128),
}

impl IpMatcher {
    /// Compiles an argument already validated by the parser.
    pub(crate) fn new(value: &str) -> Option<IpMatcher> {
        let value = value.trim();
        if let Some((a, prefix)) = value.split_once('/') {
            let p: u32 = prefix.trim().parse().ok()?;
            return match a.trim().parse::<IpAddr>().ok()? {
                IpAddr::V4(a) => {
                    let a = u32::from(a);
                    let mask = if p == 0 {
                        0
                    } else {
                        u32::MAX << (32 - p.min(32))
                    };
                    Some(IpMatcher::V4(a & mask, (a & mask) | !mask))
                }
                IpAddr::V6(a) => {
                    let a = u128::from(a);
                    let mask = if p == 0 {
                        0
                    } else {
                        u128::MAX << (128 - p.min(128))
                    };
                    Some(IpMatcher::V6(a & mask, (a & mask) | !mask))
                }
            };
        }
        if let Some((a, b)) = value.split_once('-') {
            return match (a.trim().parse().ok()?, b.trim().parse().ok()?) {
                (IpAddr::V4(a), IpAddr::V4(b)) => Some(IpMatcher::V4(a.into(), b.into())),
                (IpAddr::V6(a), IpAddr::V6(b)) => Some(IpMatcher::V6(a.into(), b.into())),
                _ => None,
            };
        }
        match value.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => Some(IpMatcher::V4(a.into(), a.into())),
            IpAddr::V6(a) => Some(IpMatcher::V6(a.into(), a.into())),
        }
    }

    /// Whether `ip` lies in the range.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (IpMatcher::V4(lo, hi), IpAddr::V4(a)) => (*lo..=*hi).contains(&u32::from(a)),
            (IpMatcher::V6(lo, hi), IpAddr::V6(a)) => (*lo..=*hi).contains(&u128::from(a)),
            (IpMatcher::V6(lo, hi), IpAddr::V4(a)) => {
                (*lo..=*hi).contains(&u128::from(a.to_ipv6_mapped()))
            }
            _ => false,
        }
    }

    /// Whether the string is an address in the range.
    pub(crate) fn matches_str(&self, s: &str) -> bool {
        s.trim().parse::<IpAddr>().is_ok_and(|ip| self.contains(ip))
    }

    /// Whether any address-shaped token of `line` lies in the range.
    pub(crate) fn matches_line(&self, line: &[u8]) -> bool {
        let is_ip_byte = |c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':';
        let mut i = 0;
        while i < line.len() {
            if !is_ip_byte(line[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && is_ip_byte(line[i]) {
                i += 1;
            }
            let tok = &line[start..i];
            if tok.len() >= 2 && (tok.contains(&b'.') || tok.contains(&b':')) {
                if let Ok(s) = std::str::from_utf8(tok) {
                    let s = s.trim_end_matches(['.', ':']);
                    if self.matches_str(s) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let m = IpMatcher::new("10.0.0.0/8").unwrap();
        assert!(m.matches_str("10.1.2.3"));
        assert!(!m.matches_str("11.1.2.3"));
        let r = IpMatcher::new("192.0.2.1-192.0.2.9").unwrap();
        assert!(r.matches_line(b"from 192.0.2.5: hi"));
        assert!(!r.matches_line(b"from 192.0.2.10 hi"));
        let v6 = IpMatcher::new("2001:db8::/32").unwrap();
        assert!(v6.matches_line(b"addr=2001:db8::1 ok"));
        assert!(IpMatcher::new("::1").unwrap().matches_str("::1"));
        assert!(!IpMatcher::new("0.0.0.0/0")
            .unwrap()
            .matches_line(b"no address"));
    }
}
