//! A decoder for the LZ4 frame format that writes straight into the
//! caller's buffer.
//!
//! `lz4_flex::frame::FrameDecoder` allocates and zeroes a buffer of the
//! frame's maximum block size (up to 4 MiB) for every frame, then copies
//! each block out of it; for Loki's one-frame-per-block chunks that costs
//! more than the decompression. This decoder parses the frame itself and
//! lets `lz4_flex::block` decompress each block into a scratch buffer the
//! caller keeps between calls, appending it to the output. Checksums (header, block
//! and content, all xxHash32) are checked whenever the frame has them.
//!
//! ```text
//! frame := magic 04 22 4d 18  FLG  BD  [content size u64le]  [dict id u32le]  HC
//!          { block size u32le (high bit: stored uncompressed)  data  [xxh32 u32le] }
//!          00 00 00 00  [content xxh32 u32le]
//! FLG   := version(2)=01 | independent | block checksum | content size | content checksum | 0 | dict id
//! BD    := 0 | max block size(3): 4=64 KiB 5=256 KiB 6=1 MiB 7=4 MiB | 0000
//! skippable frame := magic 5X 2a 4d 18  size u32le  bytes
//! ```

use std::io;

use xxhash_rust::xxh32::xxh32;

const MAGIC: u32 = 0x184D_2204;
const SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
const SKIPPABLE: u32 = 0x184D_2A50;
/// How far back linked blocks may refer.
const WINDOW: usize = 64 * 1024;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> io::Result<&'a [u8]> {
        let out = self
            .pos
            .checked_add(n)
            .and_then(|end| self.input.get(self.pos..end))
            .ok_or_else(|| {
                invalid(format!(
                    "lz4 frame cut short in the {what} at byte {}",
                    self.pos
                ))
            })?;
        self.pos += n;
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> io::Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes every frame of `input`, replacing `out`'s contents.
pub(crate) fn decode_into(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    out.clear();
    let mut r = Reader { input, pos: 0 };
    if input.is_empty() {
        return Err(invalid("empty lz4 stream"));
    }
    while r.pos < input.len() {
        let magic = r.u32("magic number")?;
        if magic & SKIPPABLE_MASK == SKIPPABLE {
            let len = r.u32("skippable frame size")? as usize;
            r.take(len, "skippable frame")?;
            continue;
        }
        if magic != MAGIC {
            return Err(invalid(format!("bad lz4 frame magic {magic:#010x}")));
        }
        decode_frame(&mut r, out, limit, scratch)?;
    }
    Ok(())
}

fn decode_frame(
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    limit: usize,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let descriptor_start = r.pos;
    let header = r.take(2, "frame descriptor")?;
    let (flg, bd) = (header[0], header[1]);
    if flg >> 6 != 0b01 || flg & 0b10 != 0 || bd & 0b1000_1111 != 0 {
        return Err(invalid("unsupported lz4 frame descriptor"));
    }
    let independent = flg & 0b10_0000 != 0;
    let block_checksums = flg & 0b1_0000 != 0;
    let content_size = flg & 0b1000 != 0;
    let content_checksum = flg & 0b100 != 0;
    if flg & 0b1 != 0 {
        return Err(invalid("lz4 frames with a dictionary id are not supported"));
    }
    let max_block = match bd >> 4 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        other => return Err(invalid(format!("bad lz4 block size code {other}"))),
    };
    let declared = if content_size {
        let b = r.take(8, "content size")?;
        let mut size = [0; 8];
        size.copy_from_slice(b);
        Some(u64::from_le_bytes(size))
    } else {
        None
    };
    let descriptor = &r.input[descriptor_start..r.pos];
    let hc = r.take(1, "header checksum")?[0];
    if (xxh32(descriptor, 0) >> 8) as u8 != hc {
        return Err(invalid("lz4 frame header checksum mismatch"));
    }

    let frame_start = out.len();
    loop {
        let word = r.u32("block size")?;
        if word == 0 {
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let len = (word & 0x7FFF_FFFF) as usize;
        if len > max_block {
            return Err(invalid(format!(
                "lz4 block of {len} bytes exceeds the frame's {max_block}"
            )));
        }
        let data = r.take(len, "block")?;
        if block_checksums && r.u32("block checksum")? != xxh32(data, 0) {
            return Err(invalid("lz4 block checksum mismatch"));
        }
        let start = out.len();
        if stored {
            check_limit(start + len, limit)?;
            out.extend_from_slice(data);
            continue;
        }
        // Decompress into the reused scratch block (zeroed only when it
        // grows), then append: one copy, no sizing pass.
        if scratch.len() < max_block {
            scratch.resize(max_block, 0);
        }
        let target = &mut scratch[..max_block];
        let written = if independent {
            lz4_flex::block::decompress_into(data, target)
        } else {
            let dict = &out[start.saturating_sub(WINDOW).max(frame_start)..];
            lz4_flex::block::decompress_into_with_dict(data, target, dict)
        }
        .map_err(|e| invalid(format!("lz4 block: {e}")))?;
        check_limit(start + written, limit)?;
        out.extend_from_slice(&scratch[..written]);
    }
    let produced = (out.len() - frame_start) as u64;
    if declared.is_some_and(|d| d != produced) {
        return Err(invalid("lz4 frame content size mismatch"));
    }
    if content_checksum && r.u32("content checksum")? != xxh32(&out[frame_start..], 0) {
        return Err(invalid("lz4 content checksum mismatch"));
    }
    Ok(())
}

fn check_limit(len: usize, limit: usize) -> io::Result<()> {
    if len > limit {
        return Err(invalid(format!(
            "decompressed stream exceeds {limit} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn frame(data: &[u8], info: lz4_flex::frame::FrameInfo) -> Vec<u8> {
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn agrees_with_lz4_flex_for_every_frame_option() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        let data: Vec<u8> = (0..120_000u32)
            .flat_map(|i| format!("line {} {}\n", i % 977, i / 3).into_bytes())
            .collect();
        for size in [
            BlockSize::Max64KB,
            BlockSize::Max256KB,
            BlockSize::Max1MB,
            BlockSize::Max4MB,
        ] {
            for mode in [BlockMode::Independent, BlockMode::Linked] {
                for checksums in [false, true] {
                    let info = FrameInfo::new()
                        .block_size(size)
                        .block_mode(mode)
                        .block_checksums(checksums)
                        .content_checksum(checksums)
                        .content_size(checksums.then_some(data.len() as u64));
                    let packed = frame(&data, info);
                    let mut ours = Vec::new();
                    decode_into(&packed, &mut ours, usize::MAX, &mut Vec::new()).unwrap();
                    let mut theirs = Vec::new();
                    lz4_flex::frame::FrameDecoder::new(&packed[..])
                        .read_to_end(&mut theirs)
                        .unwrap();
                    assert_eq!(ours, theirs);
                    assert_eq!(ours, data);
                }
            }
        }
    }

    #[test]
    fn damage_is_an_error_or_the_same_data() {
        let info = lz4_flex::frame::FrameInfo::new()
            .block_checksums(true)
            .content_checksum(true);
        let data = b"hello hello hello hello hello world, hello world".repeat(20);
        let packed = frame(&data, info);
        let mut out = Vec::new();
        for i in 0..packed.len() {
            for mask in [0x01, 0x80] {
                let mut bad = packed.clone();
                bad[i] ^= mask;
                if decode_into(&bad, &mut out, usize::MAX, &mut Vec::new()).is_ok() {
                    assert_eq!(out, data, "flip at {i}");
                }
            }
        }
        for cut in 0..packed.len() {
            assert!(
                decode_into(&packed[..cut], &mut out, usize::MAX, &mut Vec::new()).is_err(),
                "cut at {cut}"
            );
        }
    }
}
