//! `logproto.PushRequest` read straight from the protobuf wire format,
//! for the push path.
//!
//! [`proto::PushRequest`](super::proto::PushRequest) is what clients build
//! and prost encodes. Decoding it with prost would give every line a
//! `String` of its own and grow every stream's entry vector one doubling
//! at a time. This reader borrows every string from the decompressed body
//! (the caller keeps what it needs: a shared slice of a line, a copy of a
//! metadata pair). It counts a stream's entries before reading them, so
//! their vector is allocated once, and it hands each entry to the caller's
//! conversion as it is read, with no intermediate vector. Wire
//! semantics are protobuf's, as prost applies them:
//! - unknown fields, groups included, are skipped;
//! - a known field with the wrong wire type is an error;
//! - a repeated singular field keeps its last value, or merges (the
//!   timestamp message).

use std::fmt;
use std::ops::Range;

use super::proto::Timestamp;

/// What is wrong with a body, and at which byte of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    what: &'static str,
    at: usize,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// One stream of a push request: its label text and its entries, each as
/// the caller converted it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WireStream<'a, T> {
    /// The label set text, not yet checked as UTF-8.
    pub(crate) labels: &'a [u8],
    /// The entries, in the order sent.
    pub(crate) entries: Vec<T>,
}

/// One entry as read, before the caller converts it: every string
/// borrowed from the body.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct WireEntry<'a> {
    /// The entry time (zero when absent).
    pub(crate) timestamp: Timestamp,
    /// The line, not yet checked as UTF-8.
    pub(crate) line: &'a [u8],
    /// Structured metadata pairs `(name, value)`.
    pub(crate) structured_metadata: Vec<(&'a [u8], &'a [u8])>,
}

/// Nesting of unknown groups skipped before the body is refused (prost's
/// recursion limit).
const GROUP_DEPTH: u32 = 100;

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Reads a `logproto.PushRequest` from `body`, converting each entry with
/// `convert` as it is read.
///
/// # Errors
/// A [`WireError`] naming the first malformed field: a truncated varint or
/// field, a wire type that does not match a known field, a bad key.
pub(crate) fn decode_push_request<'a, T>(
    body: &'a [u8],
    mut convert: impl FnMut(WireEntry<'a>) -> T,
) -> Result<Vec<WireStream<'a, T>>, WireError> {
    let mut request = Reader::new(body, 0..body.len());
    let mut streams = Vec::with_capacity(Reader::new(body, 0..body.len()).count(1));
    while let Some((field, wire)) = request.key()? {
        match field {
            1 => {
                let range = request.delimited(wire)?;
                streams.push(read_stream(body, range, &mut convert)?);
            }
            _ => request.skip(field, wire, GROUP_DEPTH)?,
        }
    }
    Ok(streams)
}

/// `logproto.StreamAdapter`: labels (1), entries (2); `hash` (3) is
/// checked as a varint, not used.
fn read_stream<'a, T>(
    body: &'a [u8],
    range: Range<usize>,
    convert: &mut impl FnMut(WireEntry<'a>) -> T,
) -> Result<WireStream<'a, T>, WireError> {
    let mut entries = Vec::with_capacity(Reader::new(body, range.clone()).count(2));
    let mut labels: &[u8] = &[];
    let mut stream = Reader::new(body, range);
    while let Some((field, wire)) = stream.key()? {
        match field {
            1 => labels = &body[stream.delimited(wire)?],
            2 => {
                let range = stream.delimited(wire)?;
                entries.push(convert(read_entry(body, range)?));
            }
            3 => drop(stream.varint_field(wire)?),
            _ => stream.skip(field, wire, GROUP_DEPTH)?,
        }
    }
    Ok(WireStream { labels, entries })
}

/// `logproto.EntryAdapter`: timestamp (1), line (2), structured metadata
/// (3).
#[inline]
fn read_entry(body: &[u8], range: Range<usize>) -> Result<WireEntry<'_>, WireError> {
    let mut entry = WireEntry::default();
    let mut reader = Reader::new(body, range);
    while let Some((field, wire)) = reader.key()? {
        match field {
            1 => {
                let range = reader.delimited(wire)?;
                read_timestamp(body, range, &mut entry.timestamp)?;
            }
            2 => entry.line = &body[reader.delimited(wire)?],
            3 => {
                let range = reader.delimited(wire)?;
                entry.structured_metadata.push(read_pair(body, range)?);
            }
            _ => reader.skip(field, wire, GROUP_DEPTH)?,
        }
    }
    Ok(entry)
}

/// `google.protobuf.Timestamp`, merged into `ts`: seconds (1), nanos (2).
#[inline]
fn read_timestamp(body: &[u8], range: Range<usize>, ts: &mut Timestamp) -> Result<(), WireError> {
    let mut reader = Reader::new(body, range);
    while let Some((field, wire)) = reader.key()? {
        match field {
            // int64 and int32 travel as two's complement varints; an int32
            // keeps the low 32 bits.
            1 => ts.seconds = reader.varint_field(wire)? as i64,
            2 => ts.nanos = reader.varint_field(wire)? as i32,
            _ => reader.skip(field, wire, GROUP_DEPTH)?,
        }
    }
    Ok(())
}

/// `logproto.LabelPairAdapter`: name (1), value (2).
fn read_pair(body: &[u8], range: Range<usize>) -> Result<(&[u8], &[u8]), WireError> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    let mut reader = Reader::new(body, range);
    while let Some((field, wire)) = reader.key()? {
        match field {
            1 => name = &body[reader.delimited(wire)?],
            2 => value = &body[reader.delimited(wire)?],
            _ => reader.skip(field, wire, GROUP_DEPTH)?,
        }
    }
    Ok((name, value))
}

/// A cursor over one message: the bytes of `body` in a range.
struct Reader<'a> {
    /// The body up to the message's end.
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8], range: Range<usize>) -> Reader<'a> {
        Reader {
            bytes: body.get(..range.end).unwrap_or(body),
            at: range.start,
        }
    }

    fn error(&self, what: &'static str) -> WireError {
        WireError { what, at: self.at }
    }

    /// A varint: one byte (lengths, small numbers, keys) read inline.
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, WireError> {
        match self.bytes.get(self.at) {
            Some(&byte) if byte < 0x80 => {
                self.at += 1;
                Ok(u64::from(byte))
            }
            _ => self.long_varint(),
        }
    }

    fn long_varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.error("truncated varint"));
            };
            self.at += 1;
            // The tenth byte holds the 64th bit only.
            if shift == 63 && byte > 1 {
                return Err(self.error("varint over 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(self.error("varint over 64 bits"))
    }

    /// The next field's number and wire type, or `None` at the end.
    #[inline(always)]
    fn key(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        let start = self.at;
        match self.bytes.get(start) {
            None => return Ok(None),
            // One byte: a field number up to 15 and a valid wire type.
            Some(&key) if (8..0x80).contains(&key) && key & 7 <= FIXED32 => {
                self.at += 1;
                return Ok(Some((u32::from(key >> 3), key & 7)));
            }
            Some(_) => {}
        }
        let key = self.varint()?;
        let bad = |what| WireError { what, at: start };
        let field = u32::try_from(key >> 3)
            .ok()
            .filter(|_| key <= u64::from(u32::MAX))
            .ok_or_else(|| bad("key over 32 bits"))?;
        let wire = (key & 7) as u8;
        if wire > FIXED32 {
            return Err(bad("invalid wire type"));
        }
        if field == 0 {
            return Err(bad("field number 0"));
        }
        Ok(Some((field, wire)))
    }

    /// A length-delimited field's bytes, as a range of the body.
    #[inline(always)]
    fn delimited(&mut self, wire: u8) -> Result<Range<usize>, WireError> {
        if wire != DELIMITED {
            return Err(self.error("wrong wire type for a length-delimited field"));
        }
        let len = self.varint()?;
        let left = (self.bytes.len() - self.at) as u64;
        if len > left {
            return Err(self.error("field longer than its message"));
        }
        let start = self.at;
        self.at += len as usize;
        Ok(start..self.at)
    }

    /// A varint field's value.
    #[inline(always)]
    fn varint_field(&mut self, wire: u8) -> Result<u64, WireError> {
        if wire != VARINT {
            return Err(self.error("wrong wire type for a varint field"));
        }
        self.varint()
    }

    fn advance(&mut self, n: usize) -> Result<(), WireError> {
        if self.bytes.len() - self.at < n {
            return Err(self.error("truncated fixed-width field"));
        }
        self.at += n;
        Ok(())
    }

    /// Skips an unknown field's value (a group up to its end).
    fn skip(&mut self, field: u32, wire: u8, depth: u32) -> Result<(), WireError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.advance(8),
            FIXED32 => self.advance(4),
            DELIMITED => self.delimited(wire).map(drop),
            START_GROUP => {
                let depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| self.error("groups nested too deeply"))?;
                loop {
                    let Some((inner, inner_wire)) = self.key()? else {
                        return Err(self.error("group without its end"));
                    };
                    if inner_wire == END_GROUP {
                        return if inner == field {
                            Ok(())
                        } else {
                            Err(self.error("group ended with another field number"))
                        };
                    }
                    self.skip(inner, inner_wire, depth)?;
                }
            }
            _ => Err(self.error("end of a group never started")),
        }
    }

    /// How many length-delimited fields numbered `field` the message holds
    /// at its top level (as far as it reads well: a capacity, not a
    /// check).
    fn count(mut self, field: u32) -> usize {
        let mut n = 0;
        while let Ok(Some((f, wire))) = self.key() {
            n += usize::from(f == field && wire == DELIMITED);
            if self.skip(f, wire, GROUP_DEPTH).is_err() {
                break;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same messages as prost derives them, every string as bytes: the
    /// reference these tests hold the reader to.
    mod reference {
        #[derive(Clone, PartialEq, prost::Message)]
        pub(super) struct PushRequest {
            #[prost(message, repeated, tag = "1")]
            pub(super) streams: Vec<Stream>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub(super) struct Stream {
            #[prost(bytes = "bytes", tag = "1")]
            pub(super) labels: bytes::Bytes,
            #[prost(message, repeated, tag = "2")]
            pub(super) entries: Vec<Entry>,
            #[prost(uint64, tag = "3")]
            pub(super) hash: u64,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub(super) struct Entry {
            #[prost(message, optional, tag = "1")]
            pub(super) timestamp: Option<crate::server::proto::Timestamp>,
            #[prost(bytes = "bytes", tag = "2")]
            pub(super) line: bytes::Bytes,
            #[prost(message, repeated, tag = "3")]
            pub(super) structured_metadata: Vec<Pair>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub(super) struct Pair {
            #[prost(bytes = "bytes", tag = "1")]
            pub(super) name: bytes::Bytes,
            #[prost(bytes = "bytes", tag = "2")]
            pub(super) value: bytes::Bytes,
        }
    }

    /// A request as read: per stream its labels and its entries'
    /// timestamps, lines and metadata pairs, all owned.
    type Read = Vec<(Vec<u8>, Vec<(Timestamp, Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>)>)>;

    /// What prost reads from `body`.
    fn prost_reads(body: &[u8]) -> Option<Read> {
        let request: reference::PushRequest = prost::Message::decode(body).ok()?;
        Some(
            request
                .streams
                .into_iter()
                .map(|s| {
                    let entries = s
                        .entries
                        .into_iter()
                        .map(|e| {
                            let pairs = e
                                .structured_metadata
                                .into_iter()
                                .map(|p| (p.name.to_vec(), p.value.to_vec()))
                                .collect();
                            (e.timestamp.unwrap_or_default(), e.line.to_vec(), pairs)
                        })
                        .collect();
                    (s.labels.to_vec(), entries)
                })
                .collect(),
        )
    }

    /// What the reader reads from `body`.
    fn reads(body: &[u8]) -> Option<Read> {
        let streams = decode_push_request(body, |e| {
            let pairs = e
                .structured_metadata
                .iter()
                .map(|(name, value)| (name.to_vec(), value.to_vec()))
                .collect();
            (e.timestamp, e.line.to_vec(), pairs)
        })
        .ok()?;
        Some(
            streams
                .into_iter()
                .map(|s| (s.labels.to_vec(), s.entries))
                .collect(),
        )
    }

    fn request() -> impl Strategy<Value = reference::PushRequest> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..12).prop_map(bytes::Bytes::from);
        let pair = (bytes(), bytes()).prop_map(|(name, value)| reference::Pair { name, value });
        let timestamp = proptest::option::of(
            (any::<i64>(), any::<i32>())
                .prop_map(|(seconds, nanos)| crate::server::proto::Timestamp { seconds, nanos }),
        );
        let entry = (timestamp, bytes(), proptest::collection::vec(pair, 0..3)).prop_map(
            |(timestamp, line, structured_metadata)| reference::Entry {
                timestamp,
                line,
                structured_metadata,
            },
        );
        let stream = (
            bytes(),
            proptest::collection::vec(entry, 0..6),
            any::<u64>(),
        )
            .prop_map(|(labels, entries, hash)| reference::Stream {
                labels,
                entries,
                hash,
            });
        proptest::collection::vec(stream, 0..4)
            .prop_map(|streams| reference::PushRequest { streams })
    }

    proptest! {
        /// Every request prost encodes reads back as prost decodes it.
        #[test]
        fn encoded_requests_read_as_prost_reads_them(request in request()) {
            let body = prost::Message::encode_to_vec(&request);
            let read = reads(&body);
            prop_assert!(read.is_some());
            prop_assert_eq!(read, prost_reads(&body));
        }

        /// Damaged bodies (bytes changed, inserted or cut) are read, or
        /// refused, exactly as prost reads or refuses them.
        #[test]
        fn damaged_requests_are_accepted_or_refused_as_prost_does(
            request in request(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
        ) {
            let mut body = prost::Message::encode_to_vec(&request);
            for (at, byte, kind) in edits {
                if body.is_empty() {
                    body.push(byte);
                    continue;
                }
                let at = at.index(body.len());
                match kind {
                    0 => body[at] = byte,
                    1 => body.insert(at, byte),
                    _ => body.truncate(at),
                }
            }
            prop_assert_eq!(reads(&body), prost_reads(&body));
        }

        /// Arbitrary bytes never panic, and agree with prost.
        #[test]
        fn arbitrary_bytes_agree_with_prost(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(reads(&body), prost_reads(&body));
        }
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped_and_repeats_follow_protobuf() {
        let mut body = Vec::new();
        // An unknown varint, fixed64, fixed32 and a group holding a
        // nested group, all at the request's top level.
        body.extend_from_slice(&[0x10, 0x96, 0x01]);
        body.extend_from_slice(&[0x19, 1, 2, 3, 4, 5, 6, 7, 8]);
        body.extend_from_slice(&[0x25, 1, 2, 3, 4]);
        body.extend_from_slice(&[0x2b, 0x33, 0x08, 0x01, 0x34, 0x2c]);
        // One stream: labels twice (the last wins), and an entry whose
        // timestamp comes in two parts (merged) and whose line comes twice.
        let entry = [
            0x0a, 0x02, 0x08, 0x05, // timestamp { seconds: 5 }
            0x12, 0x01, b'a', // line "a"
            0x0a, 0x02, 0x10, 0x07, // timestamp { nanos: 7 }
            0x12, 0x01, b'b', // line "b"
        ];
        let mut stream = vec![0x0a, 0x01, b'x', 0x0a, 0x01, b'y', 0x12, entry.len() as u8];
        stream.extend_from_slice(&entry);
        body.push(0x0a);
        body.push(stream.len() as u8);
        body.extend_from_slice(&stream);
        let read = reads(&body).unwrap();
        assert_eq!(read, prost_reads(&body).unwrap());
        assert_eq!(read[0].0, b"y");
        assert_eq!(read[0].1[0].1, b"b");
        assert_eq!(
            read[0].1[0].0,
            Timestamp {
                seconds: 5,
                nanos: 7
            }
        );
    }

    #[test]
    fn errors_say_what_is_wrong_and_where() {
        let error = |body: &[u8]| decode_push_request(body, |e| e).unwrap_err().to_string();
        assert_eq!(
            error(&[0x0a, 0x05, 0x0a]),
            "field longer than its message at byte 2"
        );
        assert_eq!(error(&[0x0a]), "truncated varint at byte 1");
        assert_eq!(error(&[0x00]), "field number 0 at byte 0");
        assert_eq!(error(&[0x0e]), "invalid wire type at byte 0");
        assert_eq!(
            error(&[0x0a, 0x02, 0x08, 0x01]),
            "wrong wire type for a length-delimited field at byte 3"
        );
        assert_eq!(
            error(&[0x13, 0x1c]),
            "group ended with another field number at byte 2"
        );
    }

    #[test]
    fn entry_vectors_are_allocated_once() {
        let request = reference::PushRequest {
            streams: vec![reference::Stream {
                labels: "{}".into(),
                entries: vec![reference::Entry::default(); 1000],
                hash: 0,
            }],
        };
        let body = prost::Message::encode_to_vec(&request);
        let read = decode_push_request(&body, |e| e).unwrap();
        assert_eq!(read[0].entries.len(), 1000);
        assert_eq!(read[0].entries.capacity(), 1000);
    }
}
