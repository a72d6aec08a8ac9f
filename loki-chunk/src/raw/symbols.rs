//! The v4 symbol table: every distinct structured-metadata name and value of
//! a chunk, numbered in order of first appearance.

use std::collections::HashMap;

use crate::raw::varint::{get_uvarint, put_uvarint};
use crate::raw::{Codec, Compressor, Decompressor};
use crate::{Error, Result};

/// The writer's side: interns strings and serialises the table.
#[derive(Debug, Default, Clone)]
pub(crate) struct SymbolTable {
    ids: HashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
    /// Sum of symbol lengths, for the builder's size accounting.
    bytes: usize,
}

impl SymbolTable {
    /// The id of `s`, adding it if new.
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        self.bytes += s.len();
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.strings.len()
    }

    /// The string with id `id` (`""` past the end, as readers do).
    pub(crate) fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    /// A writer's table holding a decoded table's symbols under the same
    /// ids, so blocks written with it stay readable with new entries.
    pub(crate) fn from_symbols(symbols: &Symbols) -> SymbolTable {
        let mut table = SymbolTable::default();
        for id in 0..symbols.len() {
            let s = symbols.get(id as u64);
            table.strings.push(s.into());
            // A repeated string keeps its first id, as interning would.
            table.ids.entry(s.into()).or_insert(id as u32);
            table.bytes += s.len();
        }
        table
    }

    /// Heap bytes held (an estimate: strings twice, plus map slots).
    pub(crate) fn memory_bytes(&self) -> usize {
        2 * self.bytes + self.strings.capacity() * 16 + self.ids.capacity() * 24
    }

    /// The serialised size before compression, a stand-in for its share of
    /// the chunk in room checks.
    pub(crate) fn encoded_len_estimate(&self) -> usize {
        self.bytes + self.strings.len()
    }

    /// The symbol count and the compressed stream of `{uvarint len, bytes}`.
    pub(crate) fn encode(&self, compressor: &mut Compressor) -> Result<(u64, Vec<u8>)> {
        let mut plain = Vec::with_capacity(self.bytes + self.strings.len() * 2);
        for s in &self.strings {
            put_uvarint(&mut plain, s.len() as u64);
            plain.extend_from_slice(s.as_bytes());
        }
        Ok((self.strings.len() as u64, compressor.compress(&plain)?))
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
