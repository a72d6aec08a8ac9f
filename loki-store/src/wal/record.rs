//! WAL records: what they hold and how they are framed.
//!
//! ```text
//! segment file := magic "LOKIWAL" u8 version(1)  record*
//! record       := u32le payload_len  u32le crc32(kind ‖ payload)  u8 kind  payload
//! kind 1 series  := u64le ref  str tenant  u32le n  n × (str name, str value)
//! kind 2 entries := u64le ref  u32le n  n × (i64le ts, bytes line, u32le m, m × (str, str))
//! kind 3 chunk   := u64le ref  u8 state  bytes chunk
//!                   (state 0: a closed chunk; 1: the cut blocks of the open
//!                   chunk, its head following as an entries record)
//! str / bytes    := u32le len  len bytes
//! ```
//!
//! A series record binds a stream reference to its tenant and labels; it
//! precedes, in the same segment, every entries record that uses the
//! reference, so each segment replays on its own.
//!
//! Segments hold series and entries records. Checkpoints hold, per stream,
//! a series record, its chunks as chunk records (Loki's encoded chunk
//! bytes, so a checkpoint copies compressed data instead of decompressing
//! it) and an entries record for the open chunk's uncut head. Checkpoints
//! written before chunk records existed (series and entries only) replay
//! the same way.

use bytes::Bytes;
use bytestring::ByteString;

use crate::{Error, Result};

/// The bytes every WAL segment starts with: `LOKIWAL` and the format version.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"LOKIWAL\x01";

/// Bytes before a record's payload: length, CRC and kind.
pub(crate) const RECORD_HEADER_LEN: usize = 9;

/// The largest payload accepted on replay; larger lengths mean damage.
pub(crate) const MAX_RECORD_LEN: usize = 512 << 20;

const KIND_SERIES: u8 = 1;
const KIND_ENTRIES: u8 = 2;
const KIND_CHUNK: u8 = 3;

const CHUNK_CLOSED: u8 = 0;
const CHUNK_OPEN: u8 = 1;

/// One entry as logged: timestamp, line and structured metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The log line.
    pub line: Vec<u8>,
    /// Structured metadata pairs.
    pub metadata: Vec<(ByteString, ByteString)>,
}

/// A replayed or appended WAL record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// Binds `stream` to a tenant and label set.
    Series {
        /// The stream reference, unique within the WAL.
        stream: u64,
        /// The tenant.
        tenant: String,
        /// The stream's labels, sorted by name.
        labels: Vec<(String, String)>,
    },
    /// Entries accepted for `stream`.
    Entries {
        /// The stream reference.
        stream: u64,
        /// The entries, in acceptance order.
        entries: Vec<WalEntry>,
    },
    /// A chunk of `stream`, as encoded chunk bytes (checkpoints only).
    Chunk {
        /// The stream reference.
        stream: u64,
        /// `true` for the cut blocks of the stream's open chunk (entries
        /// records for its head follow), `false` for a closed chunk.
        open: bool,
        /// The chunk, as `loki_chunk` encodes it.
        chunk: Bytes,
    },
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s);
}

/// Appends a framed series record to `out`.
pub(crate) fn encode_series(
    out: &mut Vec<u8>,
    stream: u64,
    tenant: &str,
    labels: &[(String, String)],
) {
    frame(out, KIND_SERIES, |out| {
        out.extend_from_slice(&stream.to_le_bytes());
        put_str(out, tenant.as_bytes());
        out.extend_from_slice(&(labels.len() as u32).to_le_bytes());
        for (name, value) in labels {
            put_str(out, name.as_bytes());
            put_str(out, value.as_bytes());
        }
    });
}

/// The bytes [`encode_series`] appends.
pub(crate) fn series_len(tenant: &str, labels: &[(String, String)]) -> usize {
    RECORD_HEADER_LEN
        + 8
        + 4
        + tenant.len()
        + 4
        + labels
            .iter()
            .map(|(n, v)| 8 + n.len() + v.len())
            .sum::<usize>()
}

/// The bytes [`encode_entries`] appends.
pub(crate) fn entries_len<'a>(
    entries: impl Iterator<Item = (i64, &'a [u8], &'a [(ByteString, ByteString)])>,
) -> usize {
    RECORD_HEADER_LEN
        + 8
        + 4
        + entries
            .map(|(_, line, metadata)| {
                8 + 4
                    + line.len()
                    + 4
                    + metadata
                        .iter()
                        .map(|(n, v)| 8 + n.len() + v.len())
                        .sum::<usize>()
            })
            .sum::<usize>()
}

/// Appends a framed entries record to `out`.
pub(crate) fn encode_entries<'a, I>(out: &mut Vec<u8>, stream: u64, entries: I)
where
    I: ExactSizeIterator<Item = (i64, &'a [u8], &'a [(ByteString, ByteString)])>,
{
    frame(out, KIND_ENTRIES, |out| {
        out.extend_from_slice(&stream.to_le_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (timestamp, line, metadata) in entries {
            out.extend_from_slice(&timestamp.to_le_bytes());
            put_str(out, line);
            out.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
            for (name, value) in metadata {
                put_str(out, name.as_bytes());
                put_str(out, value.as_bytes());
            }
        }
    });
}

/// Appends a framed chunk record to `out`.
pub(crate) fn encode_chunk(out: &mut Vec<u8>, stream: u64, open: bool, chunk: &[u8]) {
    frame(out, KIND_CHUNK, |out| {
        out.extend_from_slice(&stream.to_le_bytes());
        out.push(if open { CHUNK_OPEN } else { CHUNK_CLOSED });
        put_str(out, chunk);
    });
}

/// Writes header + payload, filling in the length and CRC afterwards.
fn frame(out: &mut Vec<u8>, kind: u8, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(kind);
    payload(out);
    let len = (out.len() - start - RECORD_HEADER_LEN) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What reading a record at some offset found.
#[derive(Debug)]
pub(crate) enum Framed<'a> {
    /// A whole record with a matching CRC: kind and payload, and its length.
    Record {
        kind: u8,
        payload: &'a [u8],
        len: usize,
    },
    /// The bytes end inside the record: a torn write.
    Torn,
    /// The record is complete but wrong (CRC, length): damage.
    Damaged(&'static str),
}

/// Reads the frame at the start of `bytes`.
pub(crate) fn read_frame(bytes: &[u8]) -> Framed<'_> {
    if bytes.len() < RECORD_HEADER_LEN {
        return Framed::Torn;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if len > MAX_RECORD_LEN {
        return Framed::Damaged("record length out of range");
    }
    let Some(body) = bytes.get(8..RECORD_HEADER_LEN + len) else {
        return Framed::Torn;
    };
    if crc32fast::hash(body) != crc {
        return Framed::Damaged("record checksum mismatch");
    }
    Framed::Record {
        kind: body[0],
        payload: &body[1..],
        len: RECORD_HEADER_LEN + len,
    }
}

/// A cursor over a checksummed payload; any overrun is damage.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let out = self
            .bytes
            .get(
                self.pos
                    ..self
                        .pos
                        .checked_add(n)
                        .ok_or(Error::WalRecord("length overflow"))?,
            )
            .ok_or(Error::WalRecord("field runs past the record"))?;
        self.pos += n;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| Error::WalRecord("string is not UTF-8"))
    }

    fn pairs(&mut self) -> Result<Vec<(String, String)>> {
        let n = self.u32()? as usize;
        // Each pair takes at least 8 bytes: bound the allocation.
        let mut pairs = Vec::with_capacity(n.min(self.bytes.len() / 8));
        for _ in 0..n {
            pairs.push((self.string()?, self.string()?));
        }
        Ok(pairs)
    }
}

/// Decodes a record whose frame checked out.
pub(crate) fn decode(kind: u8, payload: &[u8]) -> Result<Record> {
    let mut c = Cursor {
        bytes: payload,
        pos: 0,
    };
    let record = match kind {
        KIND_SERIES => Record::Series {
            stream: c.u64()?,
            tenant: c.string()?,
            labels: c.pairs()?,
        },
        KIND_ENTRIES => {
            let stream = c.u64()?;
            let n = c.u32()? as usize;
            // Each entry takes at least 16 bytes.
            let mut entries = Vec::with_capacity(n.min(payload.len() / 16));
            for _ in 0..n {
                let mut ts = [0; 8];
                ts.copy_from_slice(c.take(8)?);
                entries.push(WalEntry {
                    timestamp: i64::from_le_bytes(ts),
                    line: c.bytes()?.to_vec(),
                    metadata: c
                        .pairs()?
                        .into_iter()
                        .map(|(n, v)| (n.into(), v.into()))
                        .collect(),
                });
            }
            Record::Entries { stream, entries }
        }
        KIND_CHUNK => {
            let stream = c.u64()?;
            let open = match c.take(1)?[0] {
                CHUNK_CLOSED => false,
                CHUNK_OPEN => true,
                _ => return Err(Error::WalRecord("unknown chunk state")),
            };
            Record::Chunk {
                stream,
                open,
                chunk: Bytes::copy_from_slice(c.bytes()?),
            }
        }
        _ => return Err(Error::WalRecord("unknown record kind")),
    };
    if c.pos != payload.len() {
        return Err(Error::WalRecord("trailing bytes in record"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut out = Vec::new();
        let labels = vec![("app".to_owned(), "shop".to_owned())];
        encode_series(&mut out, 7, "tenant-a", &labels);
        let meta: Vec<(ByteString, ByteString)> = vec![("trace_id".into(), "abc".into())];
        let entries = [(5i64, &b"hello"[..], &meta[..]), (-1, &b""[..], &[][..])];
        encode_entries(&mut out, 7, entries.iter().copied());

        assert_eq!(
            out.len(),
            series_len("tenant-a", &labels) + entries_len(entries.iter().copied()),
            "the lengths computed ahead are the lengths written"
        );
        let Framed::Record { kind, payload, len } = read_frame(&out) else {
            panic!()
        };
        assert_eq!(
            decode(kind, payload).unwrap(),
            Record::Series {
                stream: 7,
                tenant: "tenant-a".into(),
                labels
            }
        );
        let Framed::Record { kind, payload, .. } = read_frame(&out[len..]) else {
            panic!()
        };
        let Record::Entries { stream, entries } = decode(kind, payload).unwrap() else {
            panic!()
        };
        assert_eq!(stream, 7);
        assert_eq!(
            entries[0],
            WalEntry {
                timestamp: 5,
                line: b"hello".to_vec(),
                metadata: meta
            }
        );
        assert_eq!(entries[1].timestamp, -1);
    }

    #[test]
    fn chunk_records_round_trip_and_bad_states_are_refused() {
        let mut out = Vec::new();
        encode_chunk(&mut out, 9, true, b"chunk bytes");
        let Framed::Record { kind, payload, len } = read_frame(&out) else {
            panic!()
        };
        assert_eq!(len, out.len());
        assert_eq!(
            decode(kind, payload).unwrap(),
            Record::Chunk {
                stream: 9,
                open: true,
                chunk: Bytes::from_static(b"chunk bytes")
            }
        );
        let mut payload = payload.to_vec();
        payload[8] = 7;
        assert!(matches!(
            decode(kind, &payload),
            Err(Error::WalRecord("unknown chunk state"))
        ));
        payload.truncate(12);
        assert!(decode(kind, &payload).is_err());
    }

    #[test]
    fn torn_and_damaged_frames_are_told_apart() {
        let mut out = Vec::new();
        encode_series(&mut out, 1, "t", &[]);
        for cut in 0..out.len() {
            assert!(
                matches!(read_frame(&out[..cut]), Framed::Torn),
                "cut at {cut}"
            );
        }
        for at in 0..out.len() {
            let mut bad = out.clone();
            bad[at] ^= 0x01;
            match read_frame(&bad) {
                Framed::Record { .. } => panic!("flip at {at} went unnoticed"),
                Framed::Torn | Framed::Damaged(_) => {}
            }
        }
    }
}
