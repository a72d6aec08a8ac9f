//! The stored chunk object: what Loki writes to the bucket.
//!
//! ```text
//! BE32 M      4 + length of the metadata section (older writers: without the 4)
//! [M-4]       snappy framing stream of the JSON metadata, then '\n'
//! BE32 D      length of the chunk
//! [D]         the chunk (MemChunk bytes)
//! ```
//!
//! The object holds no checksum of its own: the CRC-32C of all its bytes
//! travels in the object key and the index.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;

use crate::consts::{OBJECT_ENCODING_LOG_CHUNK, OBJECT_ENCODING_LOG_CHUNK_OLD, OBJECT_METRIC_NAME};
use crate::key::fingerprint;
use crate::raw::{snappy_frame, Codec};
use crate::{Chunk, ChunkKey, Error, Result};

/// The metadata of a stored chunk object: whose stream and which time span.
///
/// ```
/// use loki_chunk::ChunkObjectMeta;
///
/// let meta = ChunkObjectMeta::new(
///     "acme",
///     &[("app", "shop"), ("env", "prod")],
///     1_700_000_000_123_456_789,
///     1_700_000_060_000_000_001,
/// );
/// assert_eq!(meta.from_ms, 1_700_000_000_123);
/// assert_eq!(meta.through_ms, 1_700_000_060_001); // rounded up
/// assert_eq!(meta.fingerprint, loki_chunk::fingerprint(&[("app", "shop"), ("env", "prod")]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkObjectMeta {
    /// The tenant.
    pub tenant: String,
    /// The stream fingerprint.
    pub fingerprint: u64,
    /// First entry time, Unix milliseconds (rounded down).
    pub from_ms: i64,
    /// Last entry time, Unix milliseconds (rounded up).
    pub through_ms: i64,
    /// The stream's labels, sorted by name, without `__name__`.
    pub labels: Vec<(String, String)>,
}

impl ChunkObjectMeta {
    /// Metadata for a stream's chunk whose entries span `[min_ns, max_ns]`,
    /// computing the fingerprint and Loki's millisecond bounds.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(
        tenant: &str,
        labels: &[(N, V)],
        min_ns: i64,
        max_ns: i64,
    ) -> Self {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .filter(|(n, _)| n.as_ref() != "__name__")
            .map(|(n, v)| (n.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        labels.sort();
        let through_ms =
            max_ns.div_euclid(1_000_000) + i64::from(max_ns.rem_euclid(1_000_000) != 0);
        ChunkObjectMeta {
            tenant: tenant.to_owned(),
            fingerprint: fingerprint(&labels),
            from_ms: min_ns.div_euclid(1_000_000),
            through_ms,
            labels,
        }
    }
}

/// A decoded stored chunk object: its metadata and the chunk inside.
///
/// ```
/// use loki_chunk::{ChunkBuilder, ChunkObject, ChunkObjectMeta};
///
/// let mut builder = ChunkBuilder::new();
/// builder.append(1_700_000_000_000_000_000, b"hello", &[])?;
/// let meta = ChunkObjectMeta::new("acme", &[("app", "shop")], 1_700_000_000_000_000_000, 1_700_000_000_000_000_000);
/// let (object, key) = ChunkObject::encode(&meta, &builder.encode()?)?;
///
/// let decoded = ChunkObject::decode_checked(object, &key)?;
/// assert_eq!(decoded.meta(), &meta);
/// assert_eq!(decoded.chunk().stats().entries, 1);
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChunkObject {
    meta: ChunkObjectMeta,
    chunk: Chunk,
    checksum: u32,
}

#[derive(Deserialize)]
struct MetadataJson {
    #[serde(default)]
    fingerprint: u64,
    #[serde(rename = "userID", default)]
    user_id: String,
    from: Box<serde_json::value::RawValue>,
    through: Box<serde_json::value::RawValue>,
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    encoding: Option<u8>,
}

/// The most metadata JSON we decompress; real metadata is a few hundred
/// bytes.
const MAX_METADATA_LEN: usize = 16 << 20;

impl ChunkObject {
    /// Wraps an encoded chunk into Loki's stored object and computes its key
    /// (whose checksum is the object's CRC-32C).
    ///
    /// # Errors
    /// [`Error::Compress`] if snappy fails.
    pub fn encode(meta: &ChunkObjectMeta, chunk: &[u8]) -> Result<(Bytes, ChunkKey)> {
        let (object, _, checksum) = encode_with(meta, chunk.len(), |out| {
            out.extend_from_slice(chunk);
        })?;
        let key = ChunkKey {
            tenant: meta.tenant.clone(),
            fingerprint: meta.fingerprint,
            from_ms: meta.from_ms,
            through_ms: meta.through_ms,
            checksum,
        };
        Ok((object, key))
    }

    /// An object this crate has just encoded, as [`decode`](Self::decode)
    /// would give it back.
    pub(crate) fn from_parts(meta: ChunkObjectMeta, chunk: Chunk, checksum: u32) -> ChunkObject {
        ChunkObject {
            meta,
            chunk,
            checksum,
        }
    }

    /// Decodes an object fetched under `key`: checks the checksum first, then
    /// that the metadata names the same tenant, stream and time span.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`], [`Error::WrongMetadata`], or any error of
    /// [`decode`](Self::decode).
    pub fn decode_checked(object: Bytes, key: &ChunkKey) -> Result<ChunkObject> {
        let computed = crc32c::crc32c(&object);
        if computed != key.checksum {
            return Err(Error::ChecksumMismatch {
                what: "chunk object",
                offset: 0,
                stored: key.checksum,
                computed,
            });
        }
        let decoded = ChunkObject::decode(object)?;
        let meta = &decoded.meta;
        let checks = [
            ("tenant", key.tenant.clone(), meta.tenant.clone()),
            (
                "fingerprint",
                format!("{:x}", key.fingerprint),
                format!("{:x}", meta.fingerprint),
            ),
            ("from", key.from_ms.to_string(), meta.from_ms.to_string()),
            (
                "through",
                key.through_ms.to_string(),
                meta.through_ms.to_string(),
            ),
        ];
        for (field, expected, got) in checks {
            if expected != got {
                return Err(Error::WrongMetadata {
                    field,
                    expected,
                    got,
                });
            }
        }
        Ok(decoded)
    }

    /// Decodes an object without a key to check it against.
    ///
    /// # Errors
    /// [`Error::Truncated`]/[`Error::Corrupt`] for a bad frame,
    /// [`Error::MetadataJson`] for bad metadata, and any error of
    /// [`Chunk::open`].
    pub fn decode(object: Bytes) -> Result<ChunkObject> {
        let checksum = crc32c::crc32c(&object);
        let (json_range, chunk_start) = frame(&object)?;
        let mut json = Vec::new();
        crate::raw::Decompressor::new().decompress_into(
            Codec::Snappy,
            &object[json_range.clone()],
            &mut json,
            MAX_METADATA_LEN,
            "chunk object metadata",
            json_range.start,
        )?;
        let parsed: MetadataJson = serde_json::from_slice(&json)?;
        match parsed.encoding {
            None | Some(OBJECT_ENCODING_LOG_CHUNK) | Some(OBJECT_ENCODING_LOG_CHUNK_OLD) => {}
            Some(other) => {
                return Err(Error::corrupt(
                    "chunk object metadata",
                    json_range.start,
                    format!("encoding {other} is not a log chunk (129)"),
                ))
            }
        }
        let time = |raw: &serde_json::value::RawValue, what| {
            parse_model_time(raw.get()).ok_or_else(|| {
                Error::corrupt(
                    "chunk object metadata",
                    json_range.start,
                    format!("bad {what} time"),
                )
            })
        };
        let meta = ChunkObjectMeta {
            tenant: parsed.user_id,
            fingerprint: parsed.fingerprint,
            from_ms: time(&parsed.from, "from")?,
            through_ms: time(&parsed.through, "through")?,
            labels: parsed
                .metric
                .into_iter()
                .filter(|(n, _)| n != "__name__")
                .collect(),
        };
        let chunk = Chunk::open(object.slice(chunk_start..))?;
        Ok(ChunkObject {
            meta,
            chunk,
            checksum,
        })
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ChunkObjectMeta {
        &self.meta
    }

    /// The chunk inside.
    pub fn chunk(&self) -> &Chunk {
        &self.chunk
    }

    /// Gives back the chunk.
    pub fn into_chunk(self) -> Chunk {
        self.chunk
    }

    /// The CRC-32C of the whole object.
    pub fn checksum(&self) -> u32 {
        self.checksum
    }

    /// The key this object belongs under.
    pub fn key(&self) -> ChunkKey {
        ChunkKey {
            tenant: self.meta.tenant.clone(),
            fingerprint: self.meta.fingerprint,
            from_ms: self.meta.from_ms,
            through_ms: self.meta.through_ms,
            checksum: self.checksum,
        }
    }

    /// Whether `data` looks like a stored object rather than a bare chunk
    /// (a bare chunk starts with the chunk magic number).
    pub fn looks_like_object(data: &[u8]) -> bool {
        data.len() >= 8 && data[..4] != crate::consts::MAGIC.to_be_bytes()
    }
}

/// Lays out a stored object in one buffer: the header for `meta`, then
/// the chunk `write_chunk` appends (about `chunk_len` bytes). Returns the
/// object, where its chunk starts and its CRC-32C.
pub(crate) fn encode_with(
    meta: &ChunkObjectMeta,
    chunk_len: usize,
    write_chunk: impl FnOnce(&mut Vec<u8>),
) -> Result<(Bytes, usize, u32)> {
    let json = metadata_json(meta);
    // The header's snappy stream goes straight into the object, after the
    // length it is counted in.
    let header_bound = 4 + snappy_frame::max_encoded_len(json.len());
    let mut out = Vec::with_capacity(header_bound + 4 + chunk_len);
    out.extend_from_slice(&[0; 4]);
    snappy_frame::encode_into(json.as_bytes(), &mut out, &mut snap::raw::Encoder::new()).map_err(
        |source| Error::Compress {
            codec: Codec::Snappy,
            source,
        },
    )?;
    let header_len = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&header_len.to_be_bytes());
    let length_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let chunk_start = out.len();
    write_chunk(&mut out);
    let written = u32::try_from(out.len() - chunk_start)
        .map_err(|_| Error::InvalidOptions("a chunk object holds at most 4 GiB"))?;
    out[length_at..chunk_start].copy_from_slice(&written.to_be_bytes());
    let checksum = crc32c::crc32c(&out);
    Ok((Bytes::from(out), chunk_start, checksum))
}

/// Finds the metadata stream and the chunk start, accepting `M` counted
/// with or without its own four bytes; `D` must match the rest exactly.
fn frame(object: &[u8]) -> Result<(std::ops::Range<usize>, usize)> {
    let be32 = |at: usize| -> Option<usize> {
        let b = object.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let m = be32(0).ok_or_else(|| Error::truncated("chunk object header", 0, 4, object.len()))?;
    for meta_end in [Some(m), 4usize.checked_add(m)].into_iter().flatten() {
        if meta_end < 4 {
            continue;
        }
        if let Some(d) = be32(meta_end) {
            if meta_end + 4 + d == object.len() {
                return Ok((4..meta_end, meta_end + 4));
            }
        }
    }
    Err(Error::corrupt(
        "chunk object frame",
        0,
        format!(
            "metadata length {m} and chunk length do not add up to the object's {} bytes",
            object.len()
        ),
    ))
}

/// The JSON Loki writes, fields in Loki's order, then a newline.
fn metadata_json(meta: &ChunkObjectMeta) -> String {
    let mut metric: BTreeMap<&str, &str> = meta
        .labels
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    metric.insert("__name__", OBJECT_METRIC_NAME);
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let metric: Vec<String> = metric
        .iter()
        .map(|(n, v)| format!("{}:{}", quote(n), quote(v)))
        .collect();
    format!(
        "{{\"fingerprint\":{},\"userID\":{},\"from\":{},\"through\":{},\"metric\":{{{}}},\"encoding\":{}}}\n",
        meta.fingerprint,
        quote(&meta.tenant),
        format_model_time(meta.from_ms),
        format_model_time(meta.through_ms),
        metric.join(","),
        OBJECT_ENCODING_LOG_CHUNK,
    )
}

/// Prometheus' `model.Time` JSON: seconds with up to three decimals.
fn format_model_time(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        return format!("{sign}{secs}");
    }
    let frac = format!("{frac:03}");
    format!("{sign}{secs}.{}", frac.trim_end_matches('0'))
}

/// Parses `model.Time` JSON as Prometheus does: integer seconds, then at
/// most three decimals (more are cut off).
fn parse_model_time(text: &str) -> Option<i64> {
    let (secs, frac) = match text.split_once('.') {
        Some((s, f)) => (s, f),
        None => (text, ""),
    };
    let negative = secs.starts_with('-');
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut millis = 0i64;
    for i in 0..3 {
        millis = millis * 10 + frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    let whole = secs.checked_mul(1000)?;
    Some(if negative {
        whole - millis
    } else {
        whole + millis
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_time_round_trips() {
        for ms in [
            0,
            1,
            10,
            100,
            1_763_596_801_205,
            1_763_596_801_200,
            -1500,
            -1,
        ] {
            assert_eq!(parse_model_time(&format_model_time(ms)), Some(ms), "{ms}");
        }
        assert_eq!(format_model_time(1_763_596_801_200), "1763596801.2");
        assert_eq!(parse_model_time("1.23456"), Some(1234));
        assert_eq!(parse_model_time("1e3"), None);
    }

    #[test]
    fn metadata_json_is_loki_s() {
        let meta = ChunkObjectMeta::new(
            "fake",
            &[("job", "nginx"), ("env", "prod")],
            1_500_000_000,
            2_000_000_000,
        );
        assert_eq!(
            metadata_json(&meta),
            format!(
                "{{\"fingerprint\":{},\"userID\":\"fake\",\"from\":1.5,\"through\":2,\"metric\":{{\"__name__\":\"logs\",\"env\":\"prod\",\"job\":\"nginx\"}},\"encoding\":129}}\n",
                meta.fingerprint
            )
        );
    }

    #[test]
    fn accepts_metadata_length_without_its_own_four_bytes() {
        let meta = ChunkObjectMeta::new("t", &[("a", "b")], 0, 0);
        let mut builder = crate::ChunkBuilder::new();
        let _ = builder.append(0, b"x", &[]).unwrap();
        let (object, _) = ChunkObject::encode(&meta, &builder.encode().unwrap()).unwrap();
        let mut old = object.to_vec();
        let m = u32::from_be_bytes([old[0], old[1], old[2], old[3]]) - 4;
        old[..4].copy_from_slice(&m.to_be_bytes());
        assert_eq!(ChunkObject::decode(Bytes::from(old)).unwrap().meta(), &meta);
    }
}
