//! The on-disk layout of a segment, and the primitive encoders and decoders.
//!
//! All fixed-width integers are little-endian; `varint` is unsigned LEB128
//! and `ivarint` is a zigzag-encoded varint.
//!
//! ```text
//! offset 0
//! ┌──────────────────────────────────────────────────────────────┐
//! │ header   magic "LKIX" (4) │ version u16 │ reserved u16 = 0   │ 8 bytes
//! ├──────────────────────────────────────────────────────────────┤
//! │ name section, one per label name, in name order:             │
//! │   fst map            value → ordinal (rank in value order)   │ fst_len
//! │   all-series bitmap  roaring, series having this name        │ all_len
//! │   postings directory u32 × value_count, by ordinal:          │
//! │                      bit 31 set: the only series id, inline  │
//! │                      else: offset of a roaring bitmap in ↓   │
//! │   postings blob      portable roaring bitmaps                │
//! ├──────────────────────────────────────────────────────────────┤
//! │ series section (series ids are dense, in label-set order):   │
//! │   varint schema_count, per schema: varint n, varint name×n   │
//! │   row index          u32 × ceil(series / 16): row offsets    │
//! │   rows               varint schema, varint ordinal × n       │
//! ├──────────────────────────────────────────────────────────────┤
//! │ chunk section:                                               │
//! │   row index          u64 × ceil(series / 8): row offsets     │
//! │   rows               fingerprint u64, varint count, then per │
//! │                      chunk: ivarint from (delta to previous  │
//! │                      from), ivarint through−from, checksum   │
//! │                      u32, varint compressed, varint entries, │
//! │                      varint uncompressed                     │
//! ├──────────────────────────────────────────────────────────────┤
//! │ TOC      varint tenant_len, tenant, ivarint period start/end,│
//! │          u8 has_bounds [ivarint min from, ivarint max thru], │
//! │          varint series, varint chunks,                       │
//! │          series section (varint off, varint len, u32 crc),   │
//! │          chunk section (same), varint name_count, per name:  │
//! │          varint len, name, varint value_count, varint off,   │
//! │          varint len, u32 crc, varint fst_len, varint all_len │
//! ├──────────────────────────────────────────────────────────────┤
//! │ footer   toc_offset u64 │ toc_len u64 │ toc_crc u32 │        │
//! │          version u16 │ reserved u16 │ footer_crc u32 │ magic │ 32 bytes
//! └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! Every CRC is CRC-32 (IEEE, `crc32fast`). `footer_crc` covers the 24
//! footer bytes before it. Opening a segment checks header, footer and TOC;
//! each section's CRC is checked the first time the section is used, and
//! [`crate::Segment::verify`] checks them all.

use crate::consts::{FOOTER_LEN, FORMAT_VERSION, MAGIC};
use crate::error::{Error, Result};

/// Appends `v` as unsigned LEB128.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded as LEB128.
pub(crate) fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed byte string.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A bounds-checked reader over a slice that reports absolute offsets.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    /// `base` is the absolute offset of `buf[0]` in the segment.
    pub(crate) fn new(buf: &'a [u8], base: usize, what: &'static str) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            base,
            what,
        }
    }

    pub(crate) fn err(&self) -> Error {
        Error::corrupt(self.what, self.base + self.pos)
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn seek(&mut self, pos: usize) -> Result<()> {
        if pos > self.buf.len() {
            return Err(Error::corrupt(self.what, self.base + self.buf.len()));
        }
        self.pos = pos;
        Ok(())
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err());
        }
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self
            .buf
            .get(self.pos..self.pos + N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
        {
            Some(a) => {
                self.pos += N;
                Ok(a)
            }
            None => Err(self.err()),
        }
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let rest = &self.buf[self.pos..];
        let mut v: u64 = 0;
        for (i, &b) in rest.iter().take(10).enumerate() {
            if i == 9 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7F) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(self.err())
    }

    /// A varint that must fit `usize` and be at most `max`.
    #[inline]
    pub(crate) fn len(&mut self, max: usize) -> Result<usize> {
        let v = self.varint()?;
        if v > max as u64 {
            return Err(self.err());
        }
        Ok(v as usize)
    }

    #[inline]
    pub(crate) fn ivarint(&mut self) -> Result<i64> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub(crate) fn str(&mut self, max: usize) -> Result<&'a str> {
        let n = self.len(max)?;
        let at = self.pos;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).map_err(|_| Error::corrupt(self.what, self.base + at))
    }
}

/// The fixed-size trailer of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) toc_offset: u64,
    pub(crate) toc_len: u64,
    pub(crate) toc_crc: u32,
}

impl Footer {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.toc_offset.to_le_bytes());
        out.extend_from_slice(&self.toc_len.to_le_bytes());
        out.extend_from_slice(&self.toc_crc.to_le_bytes());
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&MAGIC);
    }

    /// Decodes the footer at the end of `seg` (the whole segment).
    pub(crate) fn decode(seg: &[u8]) -> Result<Footer> {
        if seg.len() < FOOTER_LEN {
            return Err(Error::corrupt("footer (segment too short)", seg.len()));
        }
        let at = seg.len() - FOOTER_LEN;
        let mut c = Cursor::new(&seg[at..], at, "footer");
        let toc_offset = c.u64()?;
        let toc_len = c.u64()?;
        let toc_crc = c.u32()?;
        let version = c.u16()?;
        let reserved = c.u16()?;
        let stored = c.u32()?;
        let magic = c.bytes(4)?;
        if magic != MAGIC {
            return Err(Error::corrupt("footer magic", seg.len() - 4));
        }
        let computed = crc32fast::hash(&seg[at..at + 24]);
        if stored != computed {
            return Err(Error::ChecksumMismatch {
                what: "footer",
                stored,
                computed,
            });
        }
        if version != FORMAT_VERSION {
            return Err(Error::VersionMismatch {
                expected: FORMAT_VERSION,
                got: version,
            });
        }
        if reserved != 0 {
            return Err(Error::corrupt("footer reserved bits", at + 22));
        }
        Ok(Footer {
            toc_offset,
            toc_len,
            toc_crc,
        })
    }
}

/// Where a section lives and its CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionRef {
    pub(crate) offset: usize,
    pub(crate) len: usize,
    pub(crate) crc: u32,
}

impl SectionRef {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.offset as u64);
        put_varint(out, self.len as u64);
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    /// Decodes and checks that the section lies within `[lo, hi)`.
    pub(crate) fn decode(c: &mut Cursor<'_>, lo: usize, hi: usize) -> Result<SectionRef> {
        let offset = c.len(hi)?;
        let len = c.len(hi)?;
        let crc = c.u32()?;
        if offset < lo || offset + len > hi {
            return Err(c.err());
        }
        Ok(SectionRef { offset, len, crc })
    }

    /// The section's bytes after checking its CRC.
    pub(crate) fn checked<'a>(&self, seg: &'a [u8], what: &'static str) -> Result<&'a [u8]> {
        let bytes = &seg[self.offset..self.offset + self.len];
        let computed = crc32fast::hash(bytes);
        if computed != self.crc {
            return Err(Error::ChecksumMismatch {
                what,
                stored: self.crc,
                computed,
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut out = Vec::new();
        let us = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let is = [0i64, -1, 1, i64::MIN, i64::MAX, -300];
        for &u in &us {
            put_varint(&mut out, u);
        }
        for &i in &is {
            put_ivarint(&mut out, i);
        }
        let mut c = Cursor::new(&out, 0, "test");
        for &u in &us {
            assert_eq!(c.varint().unwrap(), u);
        }
        for &i in &is {
            assert_eq!(c.ivarint().unwrap(), i);
        }
        assert_eq!(c.remaining(), 0);
        assert!(c.u8().is_err());
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bad = [0xFFu8; 11];
        assert!(Cursor::new(&bad, 0, "t").varint().is_err());
        let bad = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert!(Cursor::new(&bad, 0, "t").varint().is_err());
    }

    #[test]
    fn footer_round_trip() {
        let f = Footer {
            toc_offset: 8,
            toc_len: 20,
            toc_crc: 7,
        };
        let mut out = vec![0u8; 28];
        f.encode(&mut out);
        assert_eq!(Footer::decode(&out).unwrap(), f);
        out[30] ^= 1;
        assert!(Footer::decode(&out).is_err());
    }
}
