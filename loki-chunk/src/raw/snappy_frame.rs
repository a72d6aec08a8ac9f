//! The Snappy framing format, read and written straight from and into the
//! caller's buffers.
//!
//! `snap::read::FrameDecoder` decompresses every 64 KiB chunk into an
//! internal buffer and then copies it out; block iteration is bounded by
//! decompression speed, so this decoder parses the frame headers itself and
//! lets `snap::raw::Decoder` write each chunk directly into the output.
//! Each chunk's masked CRC-32C is checked, as the format requires.
//!
//! Likewise `snap::write::FrameEncoder` allocates two 64 KiB buffers per
//! stream and copies through them; a chunk writer compresses one stream
//! per block, so the encoder here writes the frame headers itself and lets
//! a reused `snap::raw::Encoder` compress each 64 KiB straight into the
//! output.
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
/// A chunk's type byte and 24-bit length, then its masked CRC-32C.
const CHUNK_HEADER_LEN: usize = 8;
/// The stream identifier chunk: a 4-byte header and the identifier.
const STREAM_HEADER_LEN: usize = 4 + STREAM_IDENTIFIER.len();

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

/// The most bytes [`encode_into`] appends for `input_len` bytes of input:
/// the stream identifier, and per 64 KiB a chunk header and checksum with
/// the chunk at its worst.
pub(crate) fn max_encoded_len(input_len: usize) -> usize {
    let full = input_len / MAX_CHUNK_DATA;
    let rest = input_len % MAX_CHUNK_DATA;
    let mut len =
        STREAM_HEADER_LEN + full * (CHUNK_HEADER_LEN + snap::raw::max_compress_len(MAX_CHUNK_DATA));
    if rest > 0 {
        len += CHUNK_HEADER_LEN + snap::raw::max_compress_len(rest);
    }
    len
}

/// Appends `input` to `out` as one framed snappy stream: the stream
/// identifier, then each 64 KiB of input as a compressed chunk, or as an
/// uncompressed one when compressing saves less than an eighth (the rule
/// of `snap`'s frame encoder).
pub(crate) fn encode_into(
    input: &[u8],
    out: &mut Vec<u8>,
    encoder: &mut snap::raw::Encoder,
) -> io::Result<()> {
    out.reserve(max_encoded_len(input.len()));
    out.extend_from_slice(&[0xff, 6, 0, 0]);
    out.extend_from_slice(STREAM_IDENTIFIER);
    for data in input.chunks(MAX_CHUNK_DATA) {
        let start = out.len();
        out.resize(
            start + CHUNK_HEADER_LEN + snap::raw::max_compress_len(data.len()),
            0,
        );
        let packed = encoder
            .compress(data, &mut out[start + CHUNK_HEADER_LEN..])
            .map_err(io::Error::other)?;
        let (kind, len) = if packed < data.len() - data.len() / 8 {
            (0x00, packed)
        } else {
            out.truncate(start + CHUNK_HEADER_LEN);
            out.extend_from_slice(data);
            (0x01, data.len())
        };
        out.truncate(start + CHUNK_HEADER_LEN + len);
        // At most 64 KiB and 4 bytes of checksum: the length fits 24 bits.
        let body = (len + 4) as u32;
        out[start] = kind;
        out[start + 1..start + 4].copy_from_slice(&body.to_le_bytes()[..3]);
        out[start + 4..start + CHUNK_HEADER_LEN].copy_from_slice(&masked_crc(data).to_le_bytes());
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
    fn what_it_encodes_snap_decodes() {
        let mut encoder = snap::raw::Encoder::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let random: Vec<u8> = (0..150_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let text = b"GET /cart 200 12ms user=42\n".repeat(9_000);
        for data in [&b""[..], b"x", &text[..65_536], &text, &random] {
            let mut packed = b"kept".to_vec();
            encode_into(data, &mut packed, &mut encoder).unwrap();
            assert_eq!(&packed[..4], b"kept");
            assert!(packed.len() - 4 <= max_encoded_len(data.len()));
            let mut theirs = Vec::new();
            snap::read::FrameDecoder::new(&packed[4..])
                .read_to_end(&mut theirs)
                .unwrap();
            assert_eq!(theirs, data);
            let mut ours = Vec::new();
            decode_into(&packed[4..], &mut ours, usize::MAX).unwrap();
            assert_eq!(ours, data);
        }
        let mut packed = Vec::new();
        encode_into(&random, &mut packed, &mut encoder).unwrap();
        assert_eq!(packed[10], 0x01, "incompressible data is stored as it is");
        packed.clear();
        encode_into(&text, &mut packed, &mut encoder).unwrap();
        assert_eq!(packed[10], 0x00);
        assert!(packed.len() < text.len() / 4);
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
