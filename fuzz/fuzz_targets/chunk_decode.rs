//! Decodes arbitrary bytes as a bare chunk and as a stored chunk object,
//! then walks every entry both ways, and again in the chunk's decompressed
//! copy when it can be made: errors are fine, panics are not.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use loki_chunk::{Chunk, ChunkObject, Direction};

fn walk(chunk: &Chunk) {
    walk_entries(chunk);
    if let Ok(hot) = chunk.decompressed() {
        std::hint::black_box(hot.memory_bytes());
        walk_entries(&hot);
    }
}

fn walk_entries(chunk: &Chunk) {
    let _ = chunk.verify();
    let _ = chunk.stats();
    for direction in [Direction::Forward, Direction::Backward] {
        let mut entries = chunk.entries(i64::MIN, i64::MAX, direction);
        while let Ok(Some(entry)) = entries.next() {
            for (name, value) in entry.metadata.iter() {
                std::hint::black_box((name, value));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let data = Bytes::copy_from_slice(data);
    if let Ok(chunk) = Chunk::open(data.clone()) {
        walk(&chunk);
    }
    if let Ok(object) = ChunkObject::decode(data) {
        walk(object.chunk());
    }
});
