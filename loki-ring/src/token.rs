//! Tokens: the stream token Loki hashes streams to, and token generation
//! for instances joining the ring.

use std::collections::HashSet;

use crate::{Error, Result};

/// Tokens an instance takes by default (Loki's `num_tokens`).
pub const DEFAULT_NUM_TOKENS: usize = 128;

const FNV32_OFFSET: u32 = 2_166_136_261;
const FNV32_PRIME: u32 = 16_777_619;

/// The ring token of a stream, exactly as Loki's distributor computes it:
/// FNV-1 (multiply, then XOR; not FNV-1a), 32 bits, over the tenant ID
/// followed by the canonical labels string, with no separator.
///
/// The labels string must already be in Loki's canonical form (labels
/// sorted, `", "`-joined, empty values dropped, `service_name` added);
/// this function only hashes.
///
/// ```
/// use loki_ring::stream_token;
///
/// // The check vector from Loki's own tests.
/// assert_eq!(stream_token("userID", "labels"), 2_908_432_762);
/// assert_eq!(
///     stream_token("fake", r#"{app="shop", env="prod", service_name="shop"}"#),
///     997_585_375,
/// );
/// ```
pub fn stream_token(tenant: &str, labels: &str) -> u32 {
    fnv1_32(fnv1_32(FNV32_OFFSET, tenant.as_bytes()), labels.as_bytes())
}

/// FNV-1 32-bit hash of `bytes`, continuing from `hash` (start with the
/// offset basis 2166136261).
fn fnv1_32(mut hash: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        hash = hash.wrapping_mul(FNV32_PRIME);
        hash ^= u32::from(b);
    }
    hash
}

/// Draws the tokens of a joining instance: uniformly random `u32` values,
/// skipping values already taken in the ring and duplicates, returned
/// sorted (dskit's default random generator).
///
/// [`TokenGenerator::seeded`] is deterministic: the same seed and the same
/// taken set always give the same tokens, on every platform and version of
/// this crate (it uses SplitMix64, implemented here).
///
/// ```
/// use std::collections::HashSet;
/// use loki_ring::TokenGenerator;
///
/// let a = TokenGenerator::seeded(7).generate(128, &HashSet::new())?;
/// let b = TokenGenerator::seeded(7).generate(128, &HashSet::new())?;
/// assert_eq!(a, b);
/// assert_eq!(a.len(), 128);
/// assert!(a.windows(2).all(|w| w[0] < w[1]));
///
/// // Tokens taken by other instances are never drawn again.
/// let taken: HashSet<u32> = a.iter().copied().collect();
/// let c = TokenGenerator::random().generate(128, &taken)?;
/// assert!(c.iter().all(|t| !taken.contains(t)));
/// # Ok::<(), loki_ring::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TokenGenerator {
    state: u64,
}

impl TokenGenerator {
    /// A generator seeded from the process's random source.
    pub fn random() -> TokenGenerator {
        TokenGenerator::seeded(fastrand::u64(..))
    }

    /// A deterministic generator.
    pub fn seeded(seed: u64) -> TokenGenerator {
        TokenGenerator { state: seed }
    }

    /// Draws `count` distinct tokens not in `taken`, sorted ascending.
    ///
    /// Fails with [`Error::TokensExhausted`] when the token space has fewer
    /// than `count` free values.
    pub fn generate(&mut self, count: usize, taken: &HashSet<u32>) -> Result<Vec<u32>> {
        let free = (1u64 << 32) - taken.len() as u64;
        if count as u64 > free {
            return Err(Error::TokensExhausted {
                wanted: count,
                free,
            });
        }
        let mut drawn = HashSet::with_capacity(count);
        let mut tokens = Vec::with_capacity(count);
        while tokens.len() < count {
            let candidate = self.next_u32();
            if taken.contains(&candidate) || !drawn.insert(candidate) {
                continue;
            }
            tokens.push(candidate);
        }
        tokens.sort_unstable();
        Ok(tokens)
    }

    /// The next 32 random bits.
    pub(crate) fn next_u32(&mut self) -> u32 {
        (splitmix64(&mut self.state) >> 32) as u32
    }
}

/// One step of SplitMix64 (Steele, Lea and Flood, 2014).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How a joining instance draws its tokens.
///
/// ```
/// use loki_ring::TokenStrategy;
/// assert_eq!(TokenStrategy::default(), TokenStrategy::Random);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenStrategy {
    /// Uniformly random tokens (dskit's default generator).
    #[default]
    Random,
    /// Random-looking but reproducible: [`TokenGenerator::seeded`].
    Seeded(u64),
    /// Placed for equal ownership: [`balanced_tokens`](crate::balanced_tokens).
    Balanced,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TokensFile {
    tokens: Vec<u32>,
}

/// Encodes tokens as dskit's tokens file, `{"tokens":[…]}`, so an instance
/// can keep its tokens across restarts.
///
/// ```
/// use loki_ring::{decode_tokens_file, encode_tokens_file};
///
/// let text = encode_tokens_file(&[30, 10, 20]);
/// assert_eq!(text, r#"{"tokens":[10,20,30]}"#);
/// assert_eq!(decode_tokens_file(text.as_bytes())?, vec![10, 20, 30]);
/// # Ok::<(), loki_ring::Error>(())
/// ```
pub fn encode_tokens_file(tokens: &[u32]) -> String {
    let mut tokens = tokens.to_vec();
    tokens.sort_unstable();
    tokens.dedup();
    serde_json::to_string(&TokensFile { tokens }).unwrap_or_default()
}

/// Decodes a tokens file written by [`encode_tokens_file`] or by dskit;
/// the tokens come back sorted and without duplicates.
///
/// ```
/// use loki_ring::{decode_tokens_file, ErrorKind};
/// assert_eq!(decode_tokens_file(b"{\"tokens\":[5]}")?, vec![5]);
/// assert_eq!(decode_tokens_file(b"[5]").unwrap_err().kind(), ErrorKind::Corrupt);
/// # Ok::<(), loki_ring::Error>(())
/// ```
pub fn decode_tokens_file(bytes: &[u8]) -> Result<Vec<u32>> {
    let file: TokensFile =
        serde_json::from_slice(bytes).map_err(|e| Error::corrupt("tokens file", e))?;
    let mut tokens = file.tokens;
    tokens.sort_unstable();
    tokens.dedup();
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1_vectors_derived_from_the_definition() {
        // Empty input is the offset basis; one byte is one multiply then
        // one XOR: 2166136261 * 16777619 mod 2^32 = 0x050c5d1f, ^ 'a' (0x61).
        assert_eq!(fnv1_32(FNV32_OFFSET, b""), 2_166_136_261);
        assert_eq!(
            FNV32_OFFSET.wrapping_mul(FNV32_PRIME),
            0x050c_5d1f,
            "multiply step"
        );
        assert_eq!(fnv1_32(FNV32_OFFSET, b"a"), 0x050c_5d7e);
        // FNV-1a would give 0xe40c292c for "a": make sure we are not it.
        assert_ne!(fnv1_32(FNV32_OFFSET, b"a"), 0xe40c_292c);
        // No separator: the split point between tenant and labels is
        // invisible to the hash.
        assert_eq!(stream_token("ab", "c"), stream_token("a", "bc"));
        assert_eq!(
            stream_token("tenant-1", r#"{job="varlogs"}"#),
            2_236_086_555
        );
    }

    #[test]
    fn generator_avoids_taken_and_is_exhausted_honestly() {
        let taken: HashSet<u32> = (0..1000).collect();
        let tokens = TokenGenerator::seeded(1).generate(500, &taken).unwrap();
        assert!(tokens.iter().all(|t| *t >= 1000));
        let err = TokenGenerator::seeded(1)
            .generate(usize::MAX, &taken)
            .unwrap_err();
        assert!(matches!(err, Error::TokensExhausted { .. }));
        assert_ne!(
            TokenGenerator::seeded(1)
                .generate(8, &HashSet::new())
                .unwrap(),
            TokenGenerator::seeded(2)
                .generate(8, &HashSet::new())
                .unwrap()
        );
    }
}
