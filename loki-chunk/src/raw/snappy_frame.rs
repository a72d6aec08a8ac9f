//! A decoder for the Snappy framing format that writes straight into the
//! caller's buffer.
//!
//! `snap::read::FrameDecoder` decompresses every 64 KiB chunk into an
//! internal buffer and then copies it out; block iteration is bounded by
//! decompression speed, so this decoder parses the frame headers itself and
//! lets `snap::raw::Decoder` write each chunk directly into the output.
//! Each chunk's masked CRC-32C is checked, as the format requires.
//!
//! ```text
//! chunk := type:u8  length:u24le  body[length]
//!   0xff  stream identifier   body = "sNaPpY"
//!   0x00  compressed data     body = masked-crc32c:u32le  raw-snappy-block
//!   0x01  uncompressed data   body = masked-crc32c:u32le  bytes
//!   0x02..=0x7f reserved, unskippable (error)
//!   0x80..=0xfe skippable (padding, …)
//! ```

use std::io;

const STREAM_IDENTIFIER: &[u8] = b"sNaPpY";
/// The format caps a chunk's uncompressed data at 64 KiB.
const MAX_CHUNK_DATA: usize = 65_536;

/// Decodes a framed snappy stream, replacing `out`'s contents.
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    out.clear();
    let mut decoder = snap::raw::Decoder::new();
    let mut pos = 0;
    let mut seen_identifier = false;
    while pos < input.len() {
        let header = input
            .get(pos..pos + 4)
            .ok_or_else(|| invalid(format!("chunk header cut short at byte {pos}")))?;
        let kind = header[0];
        let len =
            usize::from(header[1]) | usize::from(header[2]) << 8 | usize::from(header[3]) << 16;
        let body = input.get(pos + 4..pos + 4 + len).ok_or_else(|| {
            invalid(format!(
                "chunk at byte {pos} declares {len} bytes past the end"
            ))
        })?;
        pos += 4 + len;
        match kind {
            0xff => {
                if body != STREAM_IDENTIFIER {
                    return Err(invalid("bad stream identifier".into()));
                }
                seen_identifier = true;
            }
            0x00 | 0x01 => {
                if !seen_identifier {
                    return Err(invalid("data before the stream identifier".into()));
                }
                if body.len() < 4 {
                    return Err(invalid("data chunk shorter than its checksum".into()));
                }
                let stored = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                let payload = &body[4..];
                let start = out.len();
                if kind == 0x00 {
                    let n = snap::raw::decompress_len(payload).map_err(io::Error::other)?;
                    if n > MAX_CHUNK_DATA {
                        return Err(invalid(format!("chunk of {n} bytes exceeds 64 KiB")));
                    }
                    check_limit(start + n, limit)?;
                    out.resize(start + n, 0);
                    decoder
                        .decompress(payload, &mut out[start..])
                        .map_err(io::Error::other)?;
                } else {
                    if payload.len() > MAX_CHUNK_DATA {
                        return Err(invalid("uncompressed chunk exceeds 64 KiB".into()));
                    }
                    check_limit(start + payload.len(), limit)?;
                    out.extend_from_slice(payload);
                }
                let computed = masked_crc(&out[start..]);
                if computed != stored {
                    return Err(invalid(format!(
                        "chunk checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                    )));
                }
            }
            0x02..=0x7f => {
                return Err(invalid(format!(
                    "reserved unskippable chunk type {kind:#04x}"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The framing format's checksum: CRC-32C, rotated and offset.
pub(crate) fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn check_limit(len: usize, limit: usize) -> io::Result<()> {
    if len > limit {
        return Err(invalid(format!(
            "decompressed stream exceeds {limit} bytes"
        )));
    }
    Ok(())
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn framed(data: &[u8]) -> Vec<u8> {
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(data).unwrap();
        enc.into_inner().unwrap()
    }

    #[test]
    fn agrees_with_snap_frame_decoder() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 13) as u8).collect();
        let packed = framed(&data);
        let mut ours = Vec::new();
        decode_into(&packed, &mut ours, usize::MAX).unwrap();
        let mut theirs = Vec::new();
        snap::read::FrameDecoder::new(&packed[..])
            .read_to_end(&mut theirs)
            .unwrap();
        assert_eq!(ours, data);
        assert_eq!(theirs, data);
        assert_eq!(masked_crc(b""), 0xa282_ead8);
    }

    #[test]
    fn detects_damage() {
        let packed = framed(b"some text that compresses somewhat somewhat somewhat");
        let mut out = Vec::new();
        for i in 0..packed.len() {
            let mut bad = packed.clone();
            bad[i] ^= 0x40;
            // Either an error or, for a flip in a skippable spot, the same data.
            if decode_into(&bad, &mut out, usize::MAX).is_ok() {
                assert_eq!(out, b"some text that compresses somewhat somewhat somewhat");
            }
        }
        for cut in 0..packed.len() {
            let r = decode_into(&packed[..cut], &mut out, usize::MAX);
            assert!(r.is_err() || out.is_empty(), "cut at {cut}");
        }
    }
}
