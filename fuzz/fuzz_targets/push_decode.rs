//! Decodes arbitrary bytes as every kind of push body the server accepts:
//! errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (kind, body) = input;
    let content_type = if kind & 1 == 0 {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let encoding = ["", "snappy", "gzip", "deflate"][usize::from(kind >> 1) % 4];
    let _ = loki::server::decode_push(content_type, encoding, body.to_vec().into());
});
