//! Serialising a [`HeadStore`] into the segment layout of the `raw` module.

use crate::chunk_ref::{ChunkRef, TimeRange};
use crate::consts::{
    CHUNK_STRIDE, FORMAT_VERSION, HEADER_LEN, INLINE_POSTING_BIT, MAGIC, MAX_TENANT_LEN,
    SERIES_STRIDE,
};
use crate::error::{Error, Result};
use crate::head_store::HeadStore;
use crate::raw::{put_bytes, put_ivarint, put_varint, Footer, SectionRef};
use roaring::RoaringBitmap;
use std::collections::HashMap;

/// Writes the series of `store` that have chunks overlapping `period` (only
/// those chunks) as one segment for `tenant`.
pub(crate) fn write_segment(store: &HeadStore, tenant: &str, period: TimeRange) -> Result<Vec<u8>> {
    if tenant.len() > MAX_TENANT_LEN {
        return Err(Error::LimitExceeded {
            what: "tenant id length",
            limit: MAX_TENANT_LEN as u64,
        });
    }
    // Series with chunks in the period, and those chunks, sorted.
    // Stored back to back: `(series id, end of its chunks in all_chunks)`.
    let mut kept: Vec<(u32, usize)> = Vec::new();
    let mut all_chunks: Vec<ChunkRef> = Vec::new();
    for (id, s) in store.series.iter().enumerate() {
        let start = all_chunks.len();
        all_chunks.extend(s.chunks.as_slice().iter().filter(|c| c.overlaps(period)));
        let chunks = &mut all_chunks[start..];
        if !chunks.is_empty() {
            // Head chunks are distinct already; only the order may differ.
            chunks.sort_unstable();
            kept.push((id as u32, all_chunks.len()));
        }
    }
    let chunks_of = |i: usize| {
        let start = if i == 0 { 0 } else { kept[i - 1].1 };
        &all_chunks[start..kept[i].1]
    };

    // Name ranks (string order) and value ordinals (string order per name),
    // counting only values that a kept series uses.
    let mut name_order: Vec<u32> = (0..store.names.len() as u32).collect();
    name_order.sort_unstable_by(|&a, &b| {
        store.names[a as usize]
            .name
            .cmp(&store.names[b as usize].name)
    });
    let mut name_rank = vec![0u32; store.names.len()];
    for (rank, &nid) in name_order.iter().enumerate() {
        name_rank[nid as usize] = rank as u32;
    }
    let mut used = vec![false; store.values.len()];
    for (id, _) in &kept {
        for &vid in store.series_values(*id).iter() {
            used[vid as usize] = true;
        }
    }
    let mut by_rank: Vec<Vec<u32>> = vec![Vec::new(); store.names.len()];
    for (vid, v) in store.values.iter().enumerate() {
        if used[vid] {
            by_rank[name_rank[v.name as usize] as usize].push(vid as u32);
        }
    }
    let mut ordinal = vec![0u32; store.values.len()];
    for vids in &mut by_rank {
        vids.sort_unstable_by(|&a, &b| store.value_str(a).cmp(store.value_str(b)));
        for (ord, &vid) in vids.iter().enumerate() {
            ordinal[vid as usize] = ord as u32;
        }
    }
    // Segment name index per rank (names without kept values are dropped).
    let mut seg_name = vec![u32::MAX; store.names.len()];
    let mut next = 0;
    for (rank, vids) in by_rank.iter().enumerate() {
        if !vids.is_empty() {
            seg_name[rank] = next;
            next += 1;
        }
    }

    // Series ids follow label-set order, so postings of leading labels are
    // runs. Sort keys: per label `rank << 32 | ordinal`, compared as slices.
    let key = |vid: u32| {
        let v = &store.values[vid as usize];
        (name_rank[v.name as usize], ordinal[vid as usize])
    };
    let mut flat: Vec<u64> = Vec::new();
    let mut bounds: Vec<usize> = vec![0];
    for (id, _) in &kept {
        flat.extend(store.series_values(*id).iter().map(|&v| {
            let (rank, ord) = key(v);
            (rank as u64) << 32 | ord as u64
        }));
        bounds.push(flat.len());
    }
    let mut order: Vec<u32> = (0..kept.len() as u32).collect();
    let slice = |i: u32| &flat[bounds[i as usize]..bounds[i as usize + 1]];
    order.sort_unstable_by(|&a, &b| slice(a).cmp(slice(b)));
    // `(series id, chunks)` in segment order.
    let kept: Vec<(u32, &[ChunkRef])> = order
        .iter()
        .map(|&i| (kept[i as usize].0, chunks_of(i as usize)))
        .collect();
    drop((flat, bounds));

    let mut out = Vec::with_capacity(HEADER_LEN + kept.len() * 48);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());

    // Name sections.
    let mut pairs_by_rank: Vec<Vec<(u32, u32)>> = vec![Vec::new(); store.names.len()];
    for (new_id, (old, _)) in kept.iter().enumerate() {
        for &vid in store.series_values(*old).iter() {
            let (rank, ord) = key(vid);
            pairs_by_rank[rank as usize].push((ord, new_id as u32));
        }
    }
    let mut toc_names = Vec::new();
    for (rank, vids) in by_rank.iter().enumerate() {
        if vids.is_empty() {
            continue;
        }
        let name = &store.names[name_order[rank] as usize].name;
        let pairs = std::mem::take(&mut pairs_by_rank[rank]);
        let start = out.len();
        let (fst_len, all_len) = write_name_section(&mut out, store, vids, pairs)?;
        let section = SectionRef {
            offset: start,
            len: out.len() - start,
            crc: crc32fast::hash(&out[start..]),
        };
        toc_names.push((name, vids.len(), section, fst_len, all_len));
    }

    // Series section.
    let start = out.len();
    let mut schemas: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut schema_list: Vec<Vec<u32>> = Vec::new();
    let mut names: Vec<u32> = Vec::new();
    let mut rows = Vec::with_capacity(kept.len() * 12);
    let mut row_index = Vec::with_capacity(kept.len() / SERIES_STRIDE as usize + 1);
    for (i, (old, _)) in kept.iter().enumerate() {
        if i % SERIES_STRIDE as usize == 0 {
            row_index.push(u32::try_from(rows.len()).map_err(|_| Error::LimitExceeded {
                what: "series section size",
                limit: u32::MAX as u64,
            })?);
        }
        let vids = store.series_values(*old);
        names.clear();
        names.extend(vids.iter().map(|&v| seg_name[key(v).0 as usize]));
        let schema = match schemas.get(&names[..]) {
            Some(&schema) => schema,
            None => {
                let schema = schema_list.len() as u32;
                schemas.insert(names.clone(), schema);
                schema_list.push(names.clone());
                schema
            }
        };
        put_varint(&mut rows, schema as u64);
        for &vid in vids.iter() {
            put_varint(&mut rows, ordinal[vid as usize] as u64);
        }
    }
    put_varint(&mut out, schema_list.len() as u64);
    for schema in &schema_list {
        put_varint(&mut out, schema.len() as u64);
        for &n in schema {
            put_varint(&mut out, n as u64);
        }
    }
    for off in row_index {
        out.extend_from_slice(&off.to_le_bytes());
    }
    out.extend_from_slice(&rows);
    drop(rows);
    let series_section = SectionRef {
        offset: start,
        len: out.len() - start,
        crc: crc32fast::hash(&out[start..]),
    };

    // Chunk section.
    let start = out.len();
    let mut rows = Vec::with_capacity(kept.len() * 24);
    let mut chunk_count = 0u64;
    let mut bounds: Option<TimeRange> = None;
    for (i, (old, chunks)) in kept.iter().enumerate() {
        if i % CHUNK_STRIDE as usize == 0 {
            out.extend_from_slice(&(rows.len() as u64).to_le_bytes());
        }
        rows.extend_from_slice(&store.series[*old as usize].fingerprint.to_le_bytes());
        put_varint(&mut rows, chunks.len() as u64);
        let mut prev_from = 0i64;
        for c in chunks.iter() {
            put_ivarint(&mut rows, c.from.wrapping_sub(prev_from));
            put_ivarint(&mut rows, c.through.wrapping_sub(c.from));
            rows.extend_from_slice(&c.checksum.to_le_bytes());
            put_varint(&mut rows, c.compressed_size as u64);
            put_varint(&mut rows, c.entries as u64);
            put_varint(&mut rows, c.uncompressed_size);
            prev_from = c.from;
            bounds = Some(match bounds {
                None => TimeRange::new(c.from, c.through),
                Some(b) => TimeRange::new(b.start.min(c.from), b.end.max(c.through)),
            });
        }
        chunk_count += chunks.len() as u64;
    }
    out.extend_from_slice(&rows);
    drop(rows);
    let chunk_section = SectionRef {
        offset: start,
        len: out.len() - start,
        crc: crc32fast::hash(&out[start..]),
    };

    // TOC and footer.
    let toc_offset = out.len();
    put_bytes(&mut out, tenant.as_bytes());
    put_ivarint(&mut out, period.start);
    put_ivarint(&mut out, period.end);
    match bounds {
        Some(b) => {
            out.push(1);
            put_ivarint(&mut out, b.start);
            put_ivarint(&mut out, b.end);
        }
        None => out.push(0),
    }
    put_varint(&mut out, kept.len() as u64);
    put_varint(&mut out, chunk_count);
    series_section.encode(&mut out);
    chunk_section.encode(&mut out);
    put_varint(&mut out, toc_names.len() as u64);
    for (name, value_count, section, fst_len, all_len) in toc_names {
        put_bytes(&mut out, name.as_bytes());
        put_varint(&mut out, value_count as u64);
        section.encode(&mut out);
        put_varint(&mut out, fst_len as u64);
        put_varint(&mut out, all_len as u64);
    }
    let toc_len = out.len() - toc_offset;
    let toc_crc = crc32fast::hash(&out[toc_offset..]);
    Footer {
        toc_offset: toc_offset as u64,
        toc_len: toc_len as u64,
        toc_crc,
    }
    .encode(&mut out);
    Ok(out)
}

/// Writes fst, all-series bitmap, directory and blob for one name; returns
/// `(fst_len, all_len)`. `pairs` are `(ordinal, series id)`.
fn write_name_section(
    out: &mut Vec<u8>,
    store: &HeadStore,
    vids: &[u32],
    mut pairs: Vec<(u32, u32)>,
) -> Result<(usize, usize)> {
    let mut builder = fst::MapBuilder::memory();
    for (ord, &vid) in vids.iter().enumerate() {
        builder
            .insert(store.value_str(vid).as_bytes(), ord as u64)
            .expect("values of a name are sorted and distinct");
    }
    let fst_bytes = builder.into_inner().expect("writing to a Vec cannot fail");
    out.extend_from_slice(&fst_bytes);

    pairs.sort_unstable();
    let mut all = RoaringBitmap::new();
    for &(_, id) in &pairs {
        all.insert(id);
    }
    all.optimize();
    let before = out.len();
    all.serialize_into(&mut *out)
        .expect("writing to a Vec cannot fail");
    let all_len = out.len() - before;

    let mut dir = Vec::with_capacity(vids.len() * 4);
    let mut blob = Vec::new();
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        if group.len() == 1 {
            dir.extend_from_slice(&(group[0].1 | INLINE_POSTING_BIT).to_le_bytes());
            continue;
        }
        let offset = u32::try_from(blob.len())
            .ok()
            .filter(|o| o & INLINE_POSTING_BIT == 0)
            .ok_or(Error::LimitExceeded {
                what: "postings bytes per name",
                limit: INLINE_POSTING_BIT as u64,
            })?;
        dir.extend_from_slice(&offset.to_le_bytes());
        let mut bitmap = RoaringBitmap::from_sorted_iter(group.iter().map(|p| p.1))
            .expect("series ids of one value are sorted and distinct");
        bitmap.optimize();
        bitmap
            .serialize_into(&mut blob)
            .expect("writing to a Vec cannot fail");
    }
    out.extend_from_slice(&dir);
    out.extend_from_slice(&blob);
    Ok((fst_bytes.len(), all_len))
}
