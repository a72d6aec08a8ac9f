//! Stream fingerprints and chunk object keys, as Loki computes and lays
//! them out.

use std::fmt;

use base64::Engine as _;

use crate::{Error, Result};

/// The fingerprint Loki gives a stream: xxHash64 (seed 0) over the labels
/// sorted by name, each written as `name 0xFF value 0xFF`, skipping
/// `__name__` (Prometheus' `labels.Hash`).
///
/// Labels need not be sorted; duplicates are hashed as given.
///
/// ```
/// let labels = [("job", "nginx"), ("cluster", "eu-west-1"), ("env", "prod"),
///               ("host", "web-000"), ("namespace", "ingress")];
/// // The fingerprint a real Loki gave this stream.
/// assert_eq!(loki_chunk::fingerprint(&labels), 0xb89e203d5d949ddf);
/// ```
pub fn fingerprint<N: AsRef<str>, V: AsRef<str>>(labels: &[(N, V)]) -> u64 {
    let sorted = labels
        .windows(2)
        .all(|w| w[0].0.as_ref() <= w[1].0.as_ref());
    let mut hasher = xxhash_rust::xxh64::Xxh64::new(0);
    let mut feed = |name: &str, value: &str| {
        if name != "__name__" {
            hasher.update(name.as_bytes());
            hasher.update(&[0xff]);
            hasher.update(value.as_bytes());
            hasher.update(&[0xff]);
        }
    };
    if sorted {
        labels
            .iter()
            .for_each(|(n, v)| feed(n.as_ref(), v.as_ref()));
    } else {
        let mut refs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(n, v)| (n.as_ref(), v.as_ref()))
            .collect();
        refs.sort_by(|a, b| a.0.cmp(b.0));
        refs.into_iter().for_each(|(n, v)| feed(n, v));
    }
    hasher.digest()
}

/// The object-store key of a chunk: `tenant/fp/from:through:checksum`, with
/// every number in lowercase hex, `from`/`through` in milliseconds and the
/// checksum the CRC-32C of the whole stored object.
///
/// ```
/// use loki_chunk::ChunkKey;
///
/// let key: ChunkKey = "acme/9f1c2e4400aa71b3/18bcfe56800:18bd01c56fb:3c5a0e91".parse()?;
/// assert_eq!(key.tenant, "acme");
/// assert_eq!(key.from_ms, 1_700_000_000_000);
/// assert_eq!(key.checksum, 0x3c5a0e91);
/// assert_eq!(key.to_string(), "acme/9f1c2e4400aa71b3/18bcfe56800:18bd01c56fb:3c5a0e91");
/// // The filesystem store base64-encodes the last part.
/// assert_eq!(
///     key.filesystem_path(),
///     "acme/9f1c2e4400aa71b3/MThiY2ZlNTY4MDA6MThiZDAxYzU2ZmI6M2M1YTBlOTE="
/// );
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    /// The tenant (Loki's `userID`).
    pub tenant: String,
    /// The stream fingerprint.
    pub fingerprint: u64,
    /// First entry time, Unix milliseconds.
    pub from_ms: i64,
    /// Last entry time, Unix milliseconds (rounded up).
    pub through_ms: i64,
    /// CRC-32C of the stored object.
    pub checksum: u32,
}

fn hex_i64(v: i64) -> String {
    if v < 0 {
        format!("-{:x}", v.unsigned_abs())
    } else {
        format!("{v:x}")
    }
}

impl fmt::Display for ChunkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:x}/{}", self.tenant, self.fingerprint, self.name())
    }
}

impl std::str::FromStr for ChunkKey {
    type Err = Error;

    /// Parses both of Loki's layouts: `tenant/fp/from:through:checksum`
    /// (schema v12+) and `tenant/fp:from:through:checksum` (older).
    fn from_str(key: &str) -> Result<ChunkKey> {
        let invalid = |reason| Error::InvalidKey {
            key: key.to_owned(),
            reason,
        };
        let parts: Vec<&str> = key.split('/').collect();
        let (tenant, fp, rest) = match parts.as_slice() {
            [tenant, fp, rest] => (*tenant, *fp, *rest),
            [tenant, rest] => {
                let (fp, rest) = rest
                    .split_once(':')
                    .ok_or_else(|| invalid("missing ':' after the fingerprint"))?;
                (*tenant, fp, rest)
            }
            _ => return Err(invalid("expected tenant/fingerprint/from:through:checksum")),
        };
        if tenant.is_empty() {
            return Err(invalid("empty tenant"));
        }
        let fields: Vec<&str> = rest.split(':').collect();
        let [from, through, checksum] = fields.as_slice() else {
            return Err(invalid("expected from:through:checksum"));
        };
        Ok(ChunkKey {
            tenant: tenant.to_owned(),
            fingerprint: u64::from_str_radix(fp, 16)
                .map_err(|_| invalid("fingerprint is not hex"))?,
            from_ms: i64::from_str_radix(from, 16).map_err(|_| invalid("from is not hex"))?,
            through_ms: i64::from_str_radix(through, 16)
                .map_err(|_| invalid("through is not hex"))?,
            checksum: u32::from_str_radix(checksum, 16)
                .map_err(|_| invalid("checksum is not hex"))?,
        })
    }
}

impl ChunkKey {
    /// `from:through:checksum`, the key's last part.
    fn name(&self) -> String {
        format!(
            "{}:{}:{:x}",
            hex_i64(self.from_ms),
            hex_i64(self.through_ms),
            self.checksum
        )
    }

    /// The relative path Loki's filesystem store writes the object at:
    /// `tenant/fp/` then the base64 (standard, padded) of the last part.
    pub fn filesystem_path(&self) -> String {
        let name = base64::engine::general_purpose::STANDARD.encode(self.name());
        format!("{}/{:x}/{name}", self.tenant, self.fingerprint)
    }

    /// Recovers a key from a path Loki's filesystem store wrote (relative or
    /// absolute; only the last three components are read). Also accepts a
    /// file name that base64-encodes a whole key (schema v11 and older).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when the path is not such a path.
    pub fn from_filesystem_path(path: &str) -> Result<ChunkKey> {
        let invalid = |reason| Error::InvalidKey {
            key: path.to_owned(),
            reason,
        };
        let mut parts = path.trim_end_matches('/').rsplit('/');
        let file = parts.next().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(file)
            .map_err(|_| invalid("file name is not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| invalid("file name does not decode to text"))?;
        if decoded.contains('/') {
            return decoded.parse();
        }
        let fp = parts
            .next()
            .ok_or_else(|| invalid("no fingerprint directory"))?;
        let tenant = parts.next().ok_or_else(|| invalid("no tenant directory"))?;
        format!("{tenant}/{fp}/{decoded}").parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_layouts_and_negative_times() {
        let new: ChunkKey = "t/ff/-3e8:0:1".parse().unwrap();
        assert_eq!((new.from_ms, new.through_ms, new.checksum), (-1000, 0, 1));
        assert_eq!(new.to_string(), "t/ff/-3e8:0:1");
        let old: ChunkKey = "t/ff:a:b:c".parse().unwrap();
        assert_eq!(
            (old.fingerprint, old.from_ms, old.through_ms, old.checksum),
            (0xff, 10, 11, 12)
        );
        for bad in [
            "",
            "t",
            "/ff/1:2:3",
            "t/zz/1:2:3",
            "t/ff/1:2",
            "t/ff/1:2:3:4",
            "a/b/c/d",
            "t/ff/1:2:100000000",
        ] {
            assert!(bad.parse::<ChunkKey>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filesystem_paths_round_trip() {
        let key: ChunkKey = "fake/b89e203d5d949ddf/19a9e8f94b5:19a9ec65ccf:dc95419e"
            .parse()
            .unwrap();
        let path = key.filesystem_path();
        assert_eq!(
            path,
            "fake/b89e203d5d949ddf/MTlhOWU4Zjk0YjU6MTlhOWVjNjVjY2Y6ZGM5NTQxOWU="
        );
        assert_eq!(
            ChunkKey::from_filesystem_path(&format!("/data/chunks/{path}")).unwrap(),
            key
        );
        let legacy =
            base64::engine::general_purpose::STANDARD.encode("fake/b89e203d5d949ddf:1:2:3");
        assert_eq!(
            ChunkKey::from_filesystem_path(&legacy).unwrap().through_ms,
            2
        );
        assert!(ChunkKey::from_filesystem_path("x/y/not base64!").is_err());
    }

    #[test]
    fn fingerprint_ignores_metric_name_and_order() {
        let a = fingerprint(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            a,
            fingerprint(&[("b", "2"), ("__name__", "logs"), ("a", "1")])
        );
        assert_ne!(a, fingerprint(&[("a", "1"), ("b", "3")]));
    }
}
