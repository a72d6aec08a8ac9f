//! Writing files with direct I/O (`O_DIRECT`), for what is written once
//! and not read back soon: WAL segments, checkpoints, and the chunk objects
//! and index segments of a `file://` store. Such writes skip the page
//! cache: no copy into it, no memory taken from what queries read, and
//! (on virtual machines especially) no fresh kernel pages touched for
//! every megabyte written.
//!
//! Direct writes must be whole blocks from aligned memory at aligned
//! offsets; a file's last partial block is written zero-padded and the
//! file then cut to its length. Where the filesystem refuses `O_DIRECT`
//! (tmpfs, some network filesystems), files are written through the page
//! cache instead.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// The block size direct writes are aligned to (offset, length, memory).
pub(crate) const DIRECT_BLOCK: usize = 4096;

/// Bytes [`write_whole`] copies into its aligned buffer at a time.
const PIECE: usize = 1 << 20;

thread_local! {
    /// The aligned staging buffer of [`write_whole`], kept per thread so
    /// that writing a file takes no fresh memory.
    static STAGING: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Creates `path` (which must not exist) for writing: with direct I/O if
/// `direct` is asked and the filesystem allows it. Returns the file and
/// whether it is direct. A buffered file appends.
pub(crate) fn create_new(path: &Path, direct: bool) -> std::io::Result<(File, bool)> {
    #[cfg(target_os = "linux")]
    if direct {
        use std::os::unix::fs::OpenOptionsExt;
        match OpenOptions::new()
            .create_new(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
        {
            Ok(file) => return Ok((file, true)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // The filesystem does not do direct I/O: buffered, then.
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = direct;
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)?;
    Ok((file, false))
}

/// Writes all of `bytes` as the contents of a new, empty `file` opened
/// by [`create_new`] (`direct` as it answered).
pub(crate) fn write_whole(file: &File, direct: bool, bytes: &[u8]) -> std::io::Result<()> {
    if !direct {
        use std::io::Write;
        return (&*file).write_all(bytes);
    }
    write_whole_direct(file, bytes)
}

#[cfg(unix)]
fn write_whole_direct(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    STAGING.with(|staging| {
        let mut buf = staging.borrow_mut();
        if buf.capacity() < PIECE + DIRECT_BLOCK {
            *buf = Vec::with_capacity(PIECE + DIRECT_BLOCK);
        }
        let start = buf.as_ptr().align_offset(DIRECT_BLOCK);
        let mut at = 0;
        for piece in bytes.chunks(PIECE) {
            buf.clear();
            buf.resize(start, 0);
            buf.extend_from_slice(piece);
            buf.resize(start + piece.len().div_ceil(DIRECT_BLOCK) * DIRECT_BLOCK, 0);
            file.write_all_at(&buf[start..], at)?;
            at += piece.len() as u64;
        }
        // The last block was padded: cut the file to its length.
        file.set_len(bytes.len() as u64)
    })
}

#[cfg(not(unix))]
fn write_whole_direct(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    (&*file).write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_files_are_written_exactly_either_way() {
        let dir = tempfile::tempdir().unwrap();
        for (i, len) in [0, 1, 4095, 4096, 4097, PIECE, PIECE + 1, 3 * PIECE + 17]
            .into_iter()
            .enumerate()
        {
            let bytes: Vec<u8> = (0..len).map(|b| (b % 251) as u8 + 1).collect();
            for direct in [true, false] {
                let path = dir.path().join(format!("{i}-{direct}"));
                let (file, is_direct) = create_new(&path, direct).unwrap();
                write_whole(&file, is_direct, &bytes).unwrap();
                drop(file);
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    bytes,
                    "{len} bytes, direct {direct}"
                );
            }
        }
    }

    #[test]
    fn an_existing_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        std::fs::write(&path, b"kept").unwrap();
        for direct in [true, false] {
            let err = create_new(&path, direct).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    }
}
