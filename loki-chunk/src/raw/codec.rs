//! The compression codecs, with Loki's codec bytes and stream formats.
//!
//! | byte | name | stream format |
//! |---|---|---|
//! | 0 | `none` | bytes as they are |
//! | 1 | `gzip` | one gzip member (RFC 1952), default level |
//! | 3 | `lz4-64k` | LZ4 frame, 64 KiB blocks, no content checksum |
//! | 4 | `snappy` | Snappy framing format (not a raw snappy block) |
//! | 5 | `lz4-256k` | LZ4 frame, 256 KiB blocks |
//! | 6 | `lz4-1M` | LZ4 frame, 1 MiB blocks |
//! | 7 | `lz4` | LZ4 frame, 4 MiB blocks |
//! | 8 | `flate` | raw DEFLATE (RFC 1951), default level |
//! | 9 | `zstd` | one zstd frame, at [`ChunkOptions::zstd_level`](crate::ChunkOptions::zstd_level) |
//!
//! Byte 2 (Loki's `dumb` test codec) is rejected.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use crate::raw::{lz4_frame, snappy_frame};
use crate::{Error, Result};

/// A block compression codec, identified on disk by Loki's codec byte.
///
/// ```
/// use loki_chunk::Codec;
///
/// let codec: Codec = "snappy".parse()?;
/// assert_eq!(codec.byte(), 4);
/// assert_eq!(Codec::from_byte(9)?, Codec::Zstd);
/// assert_eq!(Codec::Lz4_4M.to_string(), "lz4");
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// No compression.
    None,
    /// gzip (RFC 1952), Loki's code default.
    Gzip,
    /// LZ4 frame with 64 KiB blocks.
    Lz4_64k,
    /// Snappy framing format.
    Snappy,
    /// LZ4 frame with 256 KiB blocks.
    Lz4_256k,
    /// LZ4 frame with 1 MiB blocks.
    Lz4_1M,
    /// LZ4 frame with 4 MiB blocks (Loki's `lz4`).
    Lz4_4M,
    /// Raw DEFLATE (RFC 1951).
    Flate,
    /// zstd: this crate's default for new chunks.
    Zstd,
}

impl Codec {
    /// Every supported codec, in codec-byte order.
    pub const ALL: [Codec; 9] = [
        Codec::None,
        Codec::Gzip,
        Codec::Lz4_64k,
        Codec::Snappy,
        Codec::Lz4_256k,
        Codec::Lz4_1M,
        Codec::Lz4_4M,
        Codec::Flate,
        Codec::Zstd,
    ];

    /// The codec byte stored at offset 5 of a chunk.
    pub fn byte(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Lz4_64k => 3,
            Codec::Snappy => 4,
            Codec::Lz4_256k => 5,
            Codec::Lz4_1M => 6,
            Codec::Lz4_4M => 7,
            Codec::Flate => 8,
            Codec::Zstd => 9,
        }
    }

    /// The codec for a codec byte.
    ///
    /// # Errors
    /// [`Error::UnknownCodec`] for bytes Loki does not define (and for 2,
    /// Loki's test-only `dumb` codec).
    pub fn from_byte(byte: u8) -> Result<Codec> {
        Codec::ALL
            .into_iter()
            .find(|codec| codec.byte() == byte)
            .ok_or(Error::UnknownCodec { got: byte })
    }

    /// The name used in Loki's `chunk_encoding` setting.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Lz4_64k => "lz4-64k",
            Codec::Snappy => "snappy",
            Codec::Lz4_256k => "lz4-256k",
            Codec::Lz4_1M => "lz4-1M",
            Codec::Lz4_4M => "lz4",
            Codec::Flate => "flate",
            Codec::Zstd => "zstd",
        }
    }

    fn lz4_block_size(self) -> Option<lz4_flex::frame::BlockSize> {
        use lz4_flex::frame::BlockSize;
        match self {
            Codec::Lz4_64k => Some(BlockSize::Max64KB),
            Codec::Lz4_256k => Some(BlockSize::Max256KB),
            Codec::Lz4_1M => Some(BlockSize::Max1MB),
            Codec::Lz4_4M => Some(BlockSize::Max4MB),
            _ => None,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Codec {
    type Err = Error;

    /// Parses a `chunk_encoding` name, case-insensitively as Loki does.
    fn from_str(name: &str) -> Result<Codec> {
        Codec::ALL
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownCodecName {
                name: name.to_owned(),
            })
    }
}

/// Compresses whole blocks. Holds no codec state of its own: the zstd
/// context and the output buffer are kept once per thread and shared by
/// every builder on it, so an open chunk costs no compressor memory (a zstd
/// context is over a megabyte). Output is returned at its exact length, so
/// a cut block holds only its compressed bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compressor {
    codec: Codec,
    /// The zstd level and window (other codecs have neither).
    zstd: ZstdSettings,
}

/// The largest zstd window (as a power of two) zstd's parameter table
/// chooses for inputs of at most 256 KiB; inputs over that get wider ones.
const ZSTD_SMALL_INPUT_WINDOW_LOG: u32 = 18;

/// zstd's smallest window (1 KiB), as a power of two.
const ZSTD_MIN_WINDOW_LOG: u32 = 10;

/// The zstd window for blocks cut at `block_size` bytes: the block size
/// rounded up to a power of two, when that is at most 256 KiB.
///
/// zstd chooses its parameters from the size of each input, and a block is
/// cut once its head reaches the block size, so a block is a little larger
/// than the block size. At Loki's default of 256 KiB that puts every block
/// just over zstd's 256 KiB boundary, where it widens the window to
/// 512 KiB, and a window that wide turns off its branch-free match finder:
/// level 1 compressed this workspace's corpus about a sixth slower, for a
/// compression ratio 0.2 % better (the few bytes past 256 KiB can refer
/// further back). Larger block sizes keep zstd's own choice.
fn zstd_window_log(block_size: usize) -> Option<u32> {
    let log = block_size.max(1).next_power_of_two().trailing_zeros();
    (log <= ZSTD_SMALL_INPUT_WINDOW_LOG).then(|| log.max(ZSTD_MIN_WINDOW_LOG))
}

/// Per-thread compression state, shared by every [`Compressor`]: the zstd
/// context with the level it is set to, the snappy encoder (its hash
/// table), and the output buffer both compress into.
struct Shared {
    zstd: Option<(ZstdSettings, zstd::bulk::Compressor<'static>)>,
    snappy: Option<snap::raw::Encoder>,
    out: Vec<u8>,
}

thread_local! {
    static SHARED: std::cell::RefCell<Shared> = const {
        std::cell::RefCell::new(Shared { zstd: None, snappy: None, out: Vec::new() })
    };
}

/// The shared output buffer is given back to the allocator when a block
/// larger than this passed through it.
const SHARED_OUT_KEEP: usize = 8 << 20;

impl Compressor {
    /// A compressor with the default zstd level and block size.
    #[cfg(test)]
    pub(crate) fn new(codec: Codec) -> Compressor {
        Compressor::for_blocks(
            codec,
            crate::consts::DEFAULT_ZSTD_LEVEL,
            crate::consts::DEFAULT_BLOCK_SIZE,
        )
    }

    /// A compressor writing zstd at `level` (checked by the builder's
    /// options; ignored by other codecs) for blocks cut at `block_size`.
    pub(crate) fn for_blocks(codec: Codec, level: i32, block_size: usize) -> Compressor {
        Compressor {
            codec,
            zstd: ZstdSettings {
                level,
                window_log: zstd_window_log(block_size),
            },
        }
    }

    /// Compresses `input` as one independent stream.
    pub(crate) fn compress(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let codec = self.codec;
        let fail = |source| Error::Compress { codec, source };
        let mut out = match codec {
            Codec::None => return Ok(input.to_vec()),
            Codec::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(input.len() / 4),
                    flate2::Compression::default(),
                );
                enc.write_all(input).map_err(fail)?;
                enc.finish().map_err(fail)?
            }
            Codec::Flate => {
                let mut enc = flate2::write::DeflateEncoder::new(
                    Vec::with_capacity(input.len() / 4),
                    flate2::Compression::default(),
                );
                enc.write_all(input).map_err(fail)?;
                enc.finish().map_err(fail)?
            }
            Codec::Snappy => {
                return SHARED.with(|shared| {
                    let Shared { snappy, out, .. } = &mut *shared.borrow_mut();
                    out.clear();
                    let encoder = snappy.get_or_insert_with(snap::raw::Encoder::new);
                    snappy_frame::encode_into(input, out, encoder).map_err(fail)?;
                    Ok(take_exact(out))
                });
            }
            Codec::Lz4_64k | Codec::Lz4_256k | Codec::Lz4_1M | Codec::Lz4_4M => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(codec.lz4_block_size().unwrap_or_default())
                    .block_mode(lz4_flex::frame::BlockMode::Independent)
                    .content_checksum(false);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(
                    info,
                    Vec::with_capacity(input.len() / 2),
                );
                enc.write_all(input).map_err(fail)?;
                enc.finish().map_err(|e| fail(std::io::Error::other(e)))?
            }
            Codec::Zstd => {
                let settings = self.zstd;
                return SHARED.with(|shared| {
                    zstd_compress(&mut shared.borrow_mut(), settings, input).map_err(fail)
                });
            }
        };
        out.shrink_to_fit();
        Ok(out)
    }
}

/// What a zstd context is set to: the level, and the window as a power of
/// two when the block size calls for one smaller than zstd's own choice
/// (see [`zstd_window_log`]; `None` leaves it to zstd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ZstdSettings {
    level: i32,
    window_log: Option<u32>,
}

impl ZstdSettings {
    /// A fresh context's settings at `level`.
    fn fresh(level: i32) -> ZstdSettings {
        ZstdSettings {
            level,
            window_log: None,
        }
    }
}

/// Compresses with the thread's zstd context into its output buffer, then
/// copies out exactly the compressed bytes.
fn zstd_compress(
    shared: &mut Shared,
    settings: ZstdSettings,
    input: &[u8],
) -> std::io::Result<Vec<u8>> {
    let Shared { zstd, out, .. } = shared;
    let (set, zstd) = match zstd {
        Some(context) => context,
        None => {
            let fresh = zstd::bulk::Compressor::new(settings.level)?;
            zstd.insert((ZstdSettings::fresh(settings.level), fresh))
        }
    };
    if *set != settings {
        zstd.set_compression_level(settings.level)?;
        // 0 gives the window back to zstd's choice.
        let log = settings.window_log.unwrap_or(0);
        zstd.set_parameter(zstd::zstd_safe::CParameter::WindowLog(log))?;
        *set = settings;
    }
    out.clear();
    out.reserve(zstd::zstd_safe::compress_bound(input.len()));
    zstd.compress_to_buffer(input, out)?;
    Ok(take_exact(out))
}

/// A copy of exactly what the shared output buffer holds; the buffer is
/// given back to the allocator if a large block made it large.
fn take_exact(out: &mut Vec<u8>) -> Vec<u8> {
    let compressed = out.to_vec();
    if out.capacity() > SHARED_OUT_KEEP {
        *out = Vec::new();
    }
    compressed
}

thread_local! {
    /// The thread's zstd decompression context, shared by every
    /// [`Decompressor`] on it. Creating a context runs a CPUID instruction
    /// (a hypervisor exit on a virtual machine) and allocates its tables:
    /// once per chunk read, that was about a twentieth of a warm
    /// `count_over_time`; once per thread, nothing.
    static ZSTD_CONTEXT: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decompresses blocks into a caller's buffer, keeping codec state between
/// calls so that walking many blocks allocates nothing per block.
pub(crate) struct Decompressor {
    /// One LZ4 block's worth of reused output space.
    lz4_scratch: Vec<u8>,
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor").finish_non_exhaustive()
    }
}

impl Decompressor {
    pub(crate) fn new() -> Decompressor {
        Decompressor {
            lz4_scratch: Vec::new(),
        }
    }

    /// Replaces the contents of `out` with the decompressed `input`.
    ///
    /// `what` and `offset` name the stream in errors. Output beyond `limit`
    /// bytes is an error, so a tiny corrupt stream cannot claim gigabytes.
    pub(crate) fn decompress_into(
        &mut self,
        codec: Codec,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        what: &'static str,
        offset: usize,
    ) -> Result<()> {
        out.clear();
        let fail = |source| Error::Decompress {
            codec,
            what,
            offset,
            source,
        };
        match codec {
            Codec::None => {
                if input.len() > limit {
                    return Err(fail(too_large(limit)));
                }
                out.extend_from_slice(input);
                Ok(())
            }
            Codec::Snappy => snappy_frame::decode_into(input, out, limit).map_err(fail),
            Codec::Gzip => {
                read_limited(flate2::read::MultiGzDecoder::new(input), out, limit).map_err(fail)
            }
            Codec::Flate => {
                read_limited(flate2::read::DeflateDecoder::new(input), out, limit).map_err(fail)
            }
            Codec::Lz4_64k | Codec::Lz4_256k | Codec::Lz4_1M | Codec::Lz4_4M => {
                lz4_frame::decode_into(input, out, limit, &mut self.lz4_scratch).map_err(fail)
            }
            Codec::Zstd => zstd_into(input, out, limit).map_err(fail),
        }
    }
}

/// Decompresses zstd `input` into `out` with the thread's context.
fn zstd_into(input: &[u8], out: &mut Vec<u8>, limit: usize) -> std::io::Result<()> {
    ZSTD_CONTEXT.with(|slot| {
        // Only this function borrows it, and never twice.
        let mut slot = slot.try_borrow_mut().map_err(std::io::Error::other)?;
        let context = match &mut *slot {
            Some(context) => context,
            None => slot.insert(
                zstd::zstd_safe::DCtx::try_create()
                    .ok_or_else(|| std::io::Error::other("cannot create a zstd context"))?,
            ),
        };
        let result = decompress_with(context, input, out, limit);
        // A streamed frame leaves buffers as large as its window (up to
        // megabytes) in the context: such a context is let go.
        if context.sizeof() > ZSTD_CONTEXT_KEEP {
            *slot = None;
        }
        result
    })
}

/// The largest zstd decompression context kept for the thread's next read.
const ZSTD_CONTEXT_KEEP: usize = 1 << 20;

/// Decompresses zstd `input` into `out` with `context`: in one call when
/// the input is one frame that records its size (what every writer we know
/// of produces for a block), streamed otherwise.
fn decompress_with(
    context: &mut zstd::zstd_safe::DCtx<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<()> {
    let known = match zstd::zstd_safe::get_frame_content_size(input) {
        Ok(Some(size)) => usize::try_from(size).ok(),
        _ => None,
    };
    let single_frame = zstd::zstd_safe::find_frame_compressed_size(input)
        .map(|len| len == input.len())
        .unwrap_or(false);
    match known {
        Some(size) if size > limit => Err(too_large(limit)),
        Some(size) if single_frame => {
            out.reserve(size);
            let written = context.decompress(out, input).map_err(|code| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    zstd::zstd_safe::get_error_name(code),
                )
            })?;
            if written != size {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "zstd frame shorter than its declared content size",
                ));
            }
            Ok(())
        }
        _ => read_limited(
            zstd::stream::read::Decoder::with_context(input, context),
            out,
            limit,
        ),
    }
}

fn too_large(limit: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("decompressed stream exceeds {limit} bytes"),
    )
}

fn read_limited(reader: impl Read, out: &mut Vec<u8>, limit: usize) -> std::io::Result<()> {
    let mut limited = reader.take((limit as u64).saturating_add(1));
    limited.read_to_end(out)?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::DEFAULT_BLOCK_SIZE;

    #[test]
    fn names_and_bytes_are_loki_s() {
        let bytes: Vec<u8> = Codec::ALL.iter().map(|c| c.byte()).collect();
        assert_eq!(bytes, [0, 1, 3, 4, 5, 6, 7, 8, 9]);
        for codec in Codec::ALL {
            assert_eq!(codec.name().parse::<Codec>().unwrap(), codec);
            assert_eq!(codec.name().to_uppercase().parse::<Codec>().unwrap(), codec);
        }
        assert!(matches!(
            Codec::from_byte(2),
            Err(Error::UnknownCodec { got: 2 })
        ));
        assert!("dumb".parse::<Codec>().is_err());
    }

    /// The window a zstd frame declares, as a power of two; `None` for a
    /// single-segment frame (whose window is its content size).
    fn declared_window_log(frame: &[u8]) -> Option<u32> {
        let descriptor = frame[4];
        let single_segment = descriptor & 0x20 != 0;
        (!single_segment).then(|| 10 + u32::from(frame[5] >> 3))
    }

    #[test]
    fn zstd_blocks_just_past_256_kib_keep_a_256_kib_window() {
        // A block as the builder cuts it: just past the block size.
        let block: Vec<u8> = (0..DEFAULT_BLOCK_SIZE as u32 + 300)
            .map(|i| ((i % 251) ^ (i / 4096)) as u8)
            .collect();
        let zstd = |block_size| {
            Compressor::for_blocks(Codec::Zstd, 1, block_size)
                .compress(&block)
                .unwrap()
        };
        let default = zstd(DEFAULT_BLOCK_SIZE);
        assert_eq!(declared_window_log(&default), Some(18));
        assert_eq!(declared_window_log(&zstd(64 << 10)), Some(16));
        // Larger blocks leave the window to zstd: for this input it covers
        // the whole input in one segment.
        assert_eq!(declared_window_log(&zstd(1 << 20)), None);
        // Compressing at the default again, after another window was set
        // on the thread's context, gives the same frame.
        assert_eq!(zstd(DEFAULT_BLOCK_SIZE), default);
        let mut out = Vec::new();
        Decompressor::new()
            .decompress_into(Codec::Zstd, &default, &mut out, usize::MAX, "block", 0)
            .unwrap();
        assert_eq!(out, block);
    }

    #[test]
    fn every_codec_round_trips() {
        let input: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut dec = Decompressor::new();
        let mut out = Vec::new();
        for codec in Codec::ALL {
            let packed = Compressor::new(codec).compress(&input).unwrap();
            dec.decompress_into(codec, &packed, &mut out, usize::MAX >> 1, "test", 0)
                .unwrap();
            assert_eq!(out, input, "{codec}");
            let err = dec.decompress_into(codec, &packed, &mut out, 1000, "test", 7);
            assert!(err.is_err(), "{codec} must honour the limit");
        }
    }

    /// Frames without a recorded size (as streaming writers such as Go's
    /// produce), several frames in a row, and damaged input all go
    /// through the thread's one context, and a failure leaves it usable.
    #[test]
    fn zstd_streams_and_damage_share_the_thread_context() {
        use std::io::Write;
        let unsized_frame = |bytes: &[u8]| {
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
            encoder.include_contentsize(false).unwrap();
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        };
        let mut two = unsized_frame(b"first ");
        two.extend(unsized_frame(b"second"));
        let sized = Compressor::new(Codec::Zstd).compress(b"sized").unwrap();
        let mut dec = Decompressor::new();
        let mut out = Vec::new();
        for _ in 0..2 {
            dec.decompress_into(Codec::Zstd, &two, &mut out, 1 << 20, "test", 0)
                .unwrap();
            assert_eq!(out, b"first second");
            let torn = &two[..two.len() - 3];
            assert!(dec
                .decompress_into(Codec::Zstd, torn, &mut out, 1 << 20, "test", 0)
                .is_err());
            let mut damaged = sized.clone();
            let last = damaged.len() - 1;
            damaged[last] ^= 0xff;
            let _ = dec.decompress_into(Codec::Zstd, &damaged, &mut out, 1 << 20, "test", 0);
            dec.decompress_into(Codec::Zstd, &sized, &mut out, 1 << 20, "test", 0)
                .unwrap();
            assert_eq!(out, b"sized");
            assert!(
                ZSTD_CONTEXT.with(|slot| slot.borrow().is_some()),
                "a block's context is kept for the next read"
            );
        }
        // A streamed frame with an 8 MiB window leaves its buffers in the
        // context, which is then let go rather than kept.
        let big: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| (i % 7919).to_le_bytes())
            .collect();
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.window_log(23).unwrap();
        encoder.write_all(&big).unwrap();
        let streamed = encoder.finish().unwrap();
        dec.decompress_into(Codec::Zstd, &streamed, &mut out, 1 << 24, "test", 0)
            .unwrap();
        assert_eq!(out, big);
        assert!(ZSTD_CONTEXT.with(|slot| slot.borrow().is_none()));
    }

    #[test]
    fn stream_formats_are_the_framed_ones() {
        let snappy = Compressor::new(Codec::Snappy).compress(b"hello").unwrap();
        assert_eq!(&snappy[..10], b"\xff\x06\x00\x00sNaPpY");
        let lz4 = Compressor::new(Codec::Lz4_64k).compress(b"hello").unwrap();
        assert_eq!(&lz4[..4], &[0x04, 0x22, 0x4d, 0x18]);
        let gzip = Compressor::new(Codec::Gzip).compress(b"hello").unwrap();
        assert_eq!(&gzip[..2], &[0x1f, 0x8b]);
        let zstd = Compressor::new(Codec::Zstd).compress(b"hello").unwrap();
        assert_eq!(&zstd[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    }
}
