//! The v4 symbol table: every distinct structured-metadata name and value of
//! a chunk, numbered in order of first appearance.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::raw::varint::{get_uvarint, put_uvarint};
use crate::raw::{Codec, Compressor, Decompressor};
use crate::{Error, Result};

/// The writer's side: interns strings and serialises the table.
///
/// Every symbol lives in one string arena, found by id through `spans`;
/// the index holds ids only, hashed by their strings. An entry with a new
/// trace id (a new symbol for every entry, as OpenTelemetry agents send)
/// then costs no allocation of its own, and dropping a chunk's table frees
/// three buffers, not two per symbol.
#[derive(Debug, Default, Clone)]
pub(crate) struct SymbolTable {
    /// Every symbol, concatenated in id order.
    text: String,
    /// `(start, end)` of each symbol in `text`, by id.
    spans: Vec<(u32, u32)>,
    /// Ids, hashed by their symbols.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl SymbolTable {
    /// The id of `s`, adding it if new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        let hash = self.hasher.hash_one(s);
        if let Some(id) = self.find(hash, s) {
            return id;
        }
        let id = self.push(s);
        self.index(hash, id);
        id
    }

    /// The id of `s`, whose hash is `hash`, if it is indexed.
    fn find(&self, hash: u64, s: &str) -> Option<u32> {
        self.index.find(hash, |&id| self.get(id) == s).copied()
    }

    /// Indexes symbol `id`, whose hash is `hash`.
    fn index(&mut self, hash: u64, id: u32) {
        let Self {
            text,
            spans,
            index,
            hasher,
        } = self;
        index.insert_unique(hash, id, |&id| {
            let (start, end) = spans[id as usize];
            hasher.hash_one(&text[start as usize..end as usize])
        });
    }

    /// Appends `s` under the next id, without indexing it.
    fn push(&mut self, s: &str) -> u32 {
        let id = self.spans.len() as u32;
        // A chunk's symbols fit in far less than 4 GiB (its target size
        // is a few MiB).
        let start = self.text.len() as u32;
        self.text.push_str(s);
        self.spans.push((start, self.text.len() as u32));
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The string with id `id` (`""` past the end, as readers do).
    pub(crate) fn get(&self, id: u32) -> &str {
        self.spans
            .get(id as usize)
            .map_or("", |&(start, end)| &self.text[start as usize..end as usize])
    }

    /// A writer's table holding a decoded table's symbols under the same
    /// ids, so blocks written with it stay readable with new entries.
    pub(crate) fn from_symbols(symbols: &Symbols) -> SymbolTable {
        let mut table = SymbolTable::default();
        for id in 0..symbols.len() {
            let s = symbols.get(id as u64);
            // A repeated string keeps its first id, as interning would.
            let hash = table.hasher.hash_one(s);
            let known = table.find(hash, s).is_some();
            let id = table.push(s);
            if !known {
                table.index(hash, id);
            }
        }
        table
    }

    /// Heap bytes held: the arena, the spans and the index's slots (an id
    /// and a control byte each).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.text.capacity() + self.spans.capacity() * 8 + self.index.capacity() * 5
    }

    /// The serialised size before compression, a stand-in for its share of
    /// the chunk in room checks.
    pub(crate) fn encoded_len_estimate(&self) -> usize {
        self.text.len() + self.spans.len()
    }

    /// The symbol count and the compressed stream of `{uvarint len, bytes}`.
    pub(crate) fn encode(&self, compressor: &mut Compressor) -> Result<(u64, Vec<u8>)> {
        let mut plain = Vec::with_capacity(self.text.len() + self.spans.len() * 2);
        for id in 0..self.spans.len() {
            let s = self.get(id as u32);
            put_uvarint(&mut plain, s.len() as u64);
            plain.extend_from_slice(s.as_bytes());
        }
        Ok((self.spans.len() as u64, compressor.compress(&plain)?))
    }
}

/// The reader's side: a decoded symbol table.
///
/// ```
/// # use loki_chunk::{Chunk, ChunkBuilder};
/// let mut builder = ChunkBuilder::new();
/// builder.append(1, b"line", &[("trace_id", "abc")])?;
/// let chunk = Chunk::open(builder.encode()?)?;
/// let symbols = chunk.symbols()?;
/// assert_eq!(symbols.len(), 2);
/// assert_eq!(symbols.get(0), "trace_id");
/// assert_eq!(symbols.get(99), ""); // past the end reads as empty
/// # Ok::<(), loki_chunk::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    /// Every symbol, concatenated.
    data: String,
    /// `(start, end)` of each symbol in `data`.
    spans: Vec<(u32, u32)>,
}

impl Symbols {
    /// The table of a chunk without structured metadata.
    pub(crate) const EMPTY: Symbols = Symbols {
        data: String::new(),
        spans: Vec::new(),
    };

    /// Decodes a v4 symbol section (count varint + compressed stream);
    /// `offset` is the section's position in the chunk, for errors.
    pub(crate) fn decode(section: &[u8], codec: Codec, offset: usize) -> Result<Symbols> {
        let mut pos = 0;
        let count = get_uvarint(section, &mut pos)
            .ok_or_else(|| Error::corrupt("symbol section", offset, "unreadable symbol count"))?;
        let mut plain = Vec::new();
        Decompressor::new().decompress_into(
            codec,
            &section[pos..],
            &mut plain,
            u32::MAX as usize,
            "symbol table",
            offset + pos,
        )?;
        if count > plain.len() as u64 {
            return Err(Error::corrupt(
                "symbol table",
                offset,
                format!("{count} symbols declared in {} bytes", plain.len()),
            ));
        }
        let mut spans = Vec::with_capacity(count as usize);
        let mut data = String::with_capacity(plain.len());
        let mut at = 0;
        for i in 0..count {
            let len = get_uvarint(&plain, &mut at)
                .and_then(|l| usize::try_from(l).ok())
                .filter(|&l| l <= plain.len() - at)
                .ok_or_else(|| {
                    Error::corrupt(
                        "symbol table",
                        offset,
                        format!("symbol {i} cut short at byte {at}"),
                    )
                })?;
            let symbol = std::str::from_utf8(&plain[at..at + len]).map_err(|_| {
                Error::corrupt("symbol table", offset, format!("symbol {i} is not UTF-8"))
            })?;
            spans.push((data.len() as u32, (data.len() + len) as u32));
            data.push_str(symbol);
            at += len;
        }
        Ok(Symbols { data, spans })
    }

    /// The symbol with id `id`; ids past the end read as `""`, as in Loki.
    pub fn get(&self, id: u64) -> &str {
        let Some(&(start, end)) = usize::try_from(id).ok().and_then(|i| self.spans.get(i)) else {
            return "";
        };
        self.data.get(start as usize..end as usize).unwrap_or("")
    }

    /// The number of symbols.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the table holds no symbols.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_numbers_symbols_in_order_of_first_appearance() {
        let mut table = SymbolTable::default();
        let words: Vec<String> = (0..5000)
            .map(|i| format!("{:x}", i * 7919 % 3001))
            .collect();
        let mut first: Vec<&str> = Vec::new();
        for word in &words {
            let id = table.intern(word);
            match first.iter().position(|w| w == word) {
                Some(at) => assert_eq!(id as usize, at, "{word} keeps its id"),
                None => {
                    assert_eq!(id as usize, first.len(), "{word} gets the next id");
                    first.push(word);
                }
            }
        }
        assert_eq!(table.len(), first.len());
        for (id, word) in first.iter().enumerate() {
            assert_eq!(table.get(id as u32), *word);
        }
        assert_eq!(table.get(first.len() as u32), "");
        assert_eq!(table.intern(""), first.len() as u32);
        assert_eq!(table.intern(""), first.len() as u32);
    }

    #[test]
    fn a_decoded_table_keeps_its_ids_and_a_repeat_interns_as_its_first() {
        let mut plain = Vec::new();
        for s in ["app", "trace", "app", "x"] {
            put_uvarint(&mut plain, s.len() as u64);
            plain.extend_from_slice(s.as_bytes());
        }
        let mut section = Vec::new();
        put_uvarint(&mut section, 4);
        section.extend_from_slice(&Compressor::new(Codec::None).compress(&plain).unwrap());
        let symbols = Symbols::decode(&section, Codec::None, 0).unwrap();
        let mut table = SymbolTable::from_symbols(&symbols);
        assert_eq!(table.len(), 4);
        assert_eq!((table.get(2), table.get(3)), ("app", "x"));
        assert_eq!(table.intern("app"), 0);
        assert_eq!(table.intern("x"), 3);
        assert_eq!(table.intern("new"), 4);
    }
}
