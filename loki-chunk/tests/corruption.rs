//! Damaged bytes give a typed error or the right entries: never a panic,
//! never wrong entries.

use bytes::Bytes;
use loki_chunk::{
    Chunk, ChunkBuilder, ChunkKey, ChunkObject, ChunkObjectMeta, ChunkOptions, Codec, Direction,
    Version,
};

type Entries = Vec<(i64, Vec<u8>, Vec<(String, String)>)>;

fn small_chunk(codec: Codec, version: Version) -> (Bytes, Entries) {
    let options = ChunkOptions::default()
        .codec(codec)
        .version(version)
        .block_size(48);
    let mut builder = ChunkBuilder::with_options(options).unwrap();
    let mut want = Vec::new();
    for i in 0..9i64 {
        let line = format!("level=info i={i} msg=\"hello\"");
        let metadata: Vec<(&str, &str)> = if i % 3 == 0 {
            vec![("trace_id", "abc")]
        } else {
            vec![]
        };
        let _ = builder
            .append(1_000 + i * 7, line.as_bytes(), &metadata)
            .unwrap();
        let stored = if version == Version::V4 {
            metadata
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        } else {
            vec![]
        };
        want.push((1_000 + i * 7, line.into_bytes(), stored));
    }
    (builder.encode().unwrap(), want)
}

/// Every entry of `chunk` in `direction`.
fn walk(chunk: &Chunk, direction: Direction) -> Result<Entries, loki_chunk::Error> {
    let mut out = Vec::new();
    let mut entries = chunk.entries(i64::MIN, i64::MAX, direction);
    while let Some(e) = entries.next()? {
        let metadata = e
            .metadata
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        out.push((e.timestamp, e.line.to_vec(), metadata));
    }
    Ok(out)
}

/// Opens, verifies and reads everything both ways; `Ok` only if every step
/// succeeded.
fn read_all(bytes: Bytes) -> Result<(Entries, Entries), loki_chunk::Error> {
    let chunk = Chunk::open(bytes)?;
    let forward = walk(&chunk, Direction::Forward)?;
    let backward = walk(&chunk, Direction::Backward)?;
    chunk.verify()?;
    Ok((forward, backward))
}

#[test]
fn every_byte_flip_is_an_error_or_the_right_entries() {
    for codec in Codec::ALL {
        for version in [Version::V3, Version::V4] {
            let (bytes, want) = small_chunk(codec, version);
            let mut want_back = want.clone();
            want_back.reverse();
            assert_eq!(
                read_all(bytes.clone()).unwrap(),
                (want.clone(), want_back.clone())
            );
            for at in 0..bytes.len() {
                // One bit everywhere; every bit of the unchecksummed header.
                let masks: &[u8] = if at < 6 {
                    &[0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80]
                } else {
                    &[0x01]
                };
                for &mask in masks {
                    let mut damaged = bytes.to_vec();
                    damaged[at] ^= mask;
                    // Any outcome but a panic or different entries is fine.
                    if let Ok(got) = read_all(Bytes::from(damaged)) {
                        assert_eq!(
                            got,
                            (want.clone(), want_back.clone()),
                            "{codec} {version:?}: flip {mask:#x} at {at}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_an_error() {
    for codec in Codec::ALL {
        for version in [Version::V3, Version::V4] {
            let (bytes, _) = small_chunk(codec, version);
            for len in 0..bytes.len() {
                let err = read_all(bytes.slice(..len)).expect_err("a cut chunk must not read");
                assert!(!err.to_string().is_empty());
            }
        }
    }
}

#[test]
fn errors_name_what_and_where() {
    let (bytes, _) = small_chunk(Codec::Snappy, Version::V4);
    let mut damaged = bytes.to_vec();
    let block = Chunk::open(bytes.clone()).unwrap().blocks()[1];
    damaged[block.offset + 2] ^= 0x10;
    let chunk = Chunk::open(Bytes::from(damaged)).unwrap(); // the table is intact
    let err = chunk.verify().unwrap_err();
    assert!(
        matches!(err, loki_chunk::Error::ChecksumMismatch { what: "block", offset, .. } if offset == block.offset),
        "{err}"
    );
    assert_eq!(err.kind(), loki_chunk::ErrorKind::Corrupt);

    let err = Chunk::open(Bytes::from_static(&[0x01, 0x2e, 0xe5, 0x6a, 7, 0])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported chunk format version 7 at offset 4 (supported: 2, 3, 4)"
    );
    let err = Chunk::open(Bytes::from_static(&[0x01, 0x2e, 0xe5, 0x6a, 3, 2])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown compression codec byte 2 at offset 5"
    );
}

#[test]
fn damaged_objects_are_errors_never_panics() {
    let (chunk, _) = small_chunk(Codec::Gzip, Version::V4);
    let meta = ChunkObjectMeta::new("tenant-a", &[("app", "shop")], 1_000, 1_056);
    let (object, key) = ChunkObject::encode(&meta, &chunk).unwrap();
    assert_eq!(
        ChunkObject::decode_checked(object.clone(), &key)
            .unwrap()
            .meta(),
        &meta
    );
    for at in 0..object.len() {
        let mut damaged = object.to_vec();
        damaged[at] ^= 0x01;
        let damaged = Bytes::from(damaged);
        assert!(ChunkObject::decode_checked(damaged.clone(), &key).is_err());
        // Without the key's checksum, damage must still never panic.
        if let Ok(decoded) = ChunkObject::decode(damaged) {
            let _ = decoded.chunk().verify();
        }
    }
    for len in 0..object.len() {
        assert!(
            ChunkObject::decode(object.slice(..len)).is_err(),
            "cut at {len}"
        );
    }
    let bad_key = ChunkKey {
        checksum: key.checksum ^ 1,
        ..key
    };
    assert!(ChunkObject::decode_checked(object, &bad_key).is_err());
}
