//! The ring description as stored in the KV store: dskit's `ring.Desc`,
//! in its protobuf layout, snappy block-compressed.
//!
//! ```text
//! Desc          1: map<string, InstanceDesc> ingesters   (2 reserved)
//! InstanceDesc  1: string addr            2: int64 timestamp
//!               3: enum state             6: repeated uint32 tokens (packed)
//!               7: string zone            8: int64 registered_timestamp
//!               9: string id             10: int64 read_only_updated_timestamp
//!              11: bool read_only        12: map<uint64, uint64> versions
//! KV value      = snappy_block(protobuf(Desc))   (dskit codec "ringDesc")
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::{Error, InstanceDesc, InstanceState, Result};

/// The whole ring: every instance by ID.
///
/// ```
/// use loki_ring::{InstanceDesc, RingDesc};
///
/// let mut desc = RingDesc::default();
/// desc.upsert(InstanceDesc::new("ingester-1", "10.0.0.1:9095", "").with_tokens(vec![1, 2]));
/// let stored = desc.encode_kv();            // what goes into the KV store
/// let back = RingDesc::decode_kv(&stored)?;
/// assert_eq!(back, desc);
/// assert_eq!(back.get("ingester-1").unwrap().tokens, vec![1, 2]);
/// # Ok::<(), loki_ring::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RingDesc {
    /// Instances by ID.
    pub instances: BTreeMap<String, InstanceDesc>,
}

impl RingDesc {
    /// The instance with this ID.
    pub fn get(&self, id: &str) -> Option<&InstanceDesc> {
        self.instances.get(id)
    }

    /// Inserts or replaces an instance (keyed by its `id`).
    pub fn upsert(&mut self, instance: InstanceDesc) {
        self.instances.insert(instance.id.clone(), instance);
    }

    /// Removes an instance, returning it.
    pub fn remove(&mut self, id: &str) -> Option<InstanceDesc> {
        self.instances.remove(id)
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether there are no instances.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Every token owned by any instance.
    pub fn taken_tokens(&self) -> HashSet<u32> {
        self.instances
            .values()
            .flat_map(|i| i.tokens.iter().copied())
            .collect()
    }

    /// Protobuf encoding (dskit's `ring.Desc` layout).
    pub fn encode(&self) -> Vec<u8> {
        let proto = DescProto {
            ingesters: self
                .instances
                .iter()
                .map(|(id, i)| (id.clone(), InstanceProto::from(i)))
                .collect(),
        };
        proto.encode_to_vec()
    }

    /// Decodes the protobuf encoding. Unknown states are an error; tokens
    /// are sorted and deduplicated; an instance's `id` is its map key
    /// (older writers leave the `id` field empty).
    pub fn decode(bytes: &[u8]) -> Result<RingDesc> {
        let proto = DescProto::decode(bytes).map_err(|e| Error::corrupt("protobuf", e))?;
        let mut instances = BTreeMap::new();
        for (key, p) in proto.ingesters {
            let state = InstanceState::from_i32(p.state).ok_or_else(|| {
                Error::corrupt(
                    "protobuf",
                    format!("instance {key:?} has unknown state {}", p.state),
                )
            })?;
            let inst = InstanceDesc {
                id: key.clone(),
                addr: p.addr,
                zone: p.zone,
                state,
                tokens: p.tokens,
                timestamp: p.timestamp,
                registered_timestamp: p.registered_timestamp,
                read_only: p.read_only,
                read_only_updated_timestamp: p.read_only_updated_timestamp,
                versions: p.versions.into_iter().collect(),
            };
            let tokens = inst.tokens.clone();
            instances.insert(key, inst.with_tokens(tokens));
        }
        Ok(RingDesc { instances })
    }

    /// The KV-store value: the protobuf encoding, snappy block-compressed
    /// (dskit's `ringDesc` codec), so a ring key is readable by both.
    pub fn encode_kv(&self) -> Vec<u8> {
        let raw = self.encode();
        // Compressing an in-memory buffer cannot fail except for inputs
        // over snappy's 4 GiB limit, far above any ring.
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .unwrap_or_default()
    }

    /// Decodes a KV-store value written by [`RingDesc::encode_kv`] or dskit.
    pub fn decode_kv(bytes: &[u8]) -> Result<RingDesc> {
        // Snappy's header states the decompressed length; refuse lengths
        // no snappy stream of this size can produce (a copy element of at
        // most 64 bytes costs at least 2 bytes) before allocating them.
        let len = snap::raw::decompress_len(bytes).map_err(|e| Error::corrupt("snappy", e))?;
        if len > bytes.len().saturating_mul(32).saturating_add(64) {
            return Err(Error::corrupt(
                "snappy",
                format!("header claims {len} bytes from {} compressed", bytes.len()),
            ));
        }
        let raw = snap::raw::Decoder::new()
            .decompress_vec(bytes)
            .map_err(|e| Error::corrupt("snappy", e))?;
        RingDesc::decode(&raw)
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct DescProto {
    #[prost(map = "string, message", tag = "1")]
    ingesters: HashMap<String, InstanceProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct InstanceProto {
    #[prost(string, tag = "1")]
    addr: String,
    #[prost(int64, tag = "2")]
    timestamp: i64,
    #[prost(int32, tag = "3")]
    state: i32,
    #[prost(uint32, repeated, tag = "6")]
    tokens: Vec<u32>,
    #[prost(string, tag = "7")]
    zone: String,
    #[prost(int64, tag = "8")]
    registered_timestamp: i64,
    #[prost(string, tag = "9")]
    id: String,
    #[prost(int64, tag = "10")]
    read_only_updated_timestamp: i64,
    #[prost(bool, tag = "11")]
    read_only: bool,
    #[prost(map = "uint64, uint64", tag = "12")]
    versions: HashMap<u64, u64>,
}

impl From<&InstanceDesc> for InstanceProto {
    fn from(i: &InstanceDesc) -> Self {
        InstanceProto {
            addr: i.addr.clone(),
            timestamp: i.timestamp,
            state: i.state as i32,
            tokens: i.tokens.clone(),
            zone: i.zone.clone(),
            registered_timestamp: i.registered_timestamp,
            id: i.id.clone(),
            read_only_updated_timestamp: i.read_only_updated_timestamp,
            read_only: i.read_only,
            versions: i.versions.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_layout_matches_dskit_field_numbers() {
        let mut desc = RingDesc::default();
        desc.upsert(
            InstanceDesc::new("a", "h:1", "z")
                .with_state(InstanceState::Joining)
                .with_tokens(vec![1, 300])
                .with_timestamp(5),
        );
        let bytes = desc.encode();
        // Desc.ingesters is field 1, length-delimited: tag byte 0x0a.
        assert_eq!(bytes[0], 0x0a);
        // Inside the map entry: key "a" (field 1), then the value message
        // (field 2, 0x12) whose first field is addr (field 1, 0x0a).
        let entry = &bytes[2..];
        assert_eq!(&entry[..3], &[0x0a, 0x01, b'a']);
        assert_eq!(entry[3], 0x12);
        let value = &entry[5..];
        assert_eq!(&value[..5], &[0x0a, 0x03, b'h', b':', b'1']);
        // timestamp: field 2 varint (0x10) = 5; state: field 3 varint
        // (0x18) = 3 (JOINING); tokens: field 6 packed (0x32), 3 bytes:
        // varint 1, varint 300 (0xac 0x02).
        assert_eq!(&value[5..7], &[0x10, 5]);
        assert_eq!(&value[7..9], &[0x18, 3]);
        assert_eq!(&value[9..14], &[0x32, 3, 1, 0xac, 0x02]);
        assert_eq!(RingDesc::decode(&bytes).unwrap(), desc);
    }

    #[test]
    fn implausible_snappy_lengths_are_refused_before_allocating() {
        // Varint 0xffffffff: "4 GiB follow", in 5 bytes.
        let err = RingDesc::decode_kv(&[0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap_err();
        assert!(err.to_string().contains("header claims"), "{err}");
        // A highly repetitive but genuine value still decodes.
        let mut desc = RingDesc::default();
        desc.upsert(InstanceDesc::new("a", "x".repeat(10_000), "").with_tokens(vec![1]));
        assert_eq!(RingDesc::decode_kv(&desc.encode_kv()).unwrap(), desc);
    }

    #[test]
    fn corrupt_values_are_errors() {
        assert!(matches!(
            RingDesc::decode_kv(b"\xff\xff\xff"),
            Err(Error::Corrupt { what: "snappy", .. })
        ));
        assert!(matches!(
            RingDesc::decode(b"\x0a\x05\x0a"),
            Err(Error::Corrupt {
                what: "protobuf",
                ..
            })
        ));
        // state 9 is not an InstanceState.
        let p = DescProto {
            ingesters: [(
                "x".to_string(),
                InstanceProto {
                    state: 9,
                    ..InstanceProto::default()
                },
            )]
            .into_iter()
            .collect(),
        };
        let err = RingDesc::decode(&p.encode_to_vec()).unwrap_err();
        assert!(err.to_string().contains("unknown state 9"), "{err}");
    }
}
