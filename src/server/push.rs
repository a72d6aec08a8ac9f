//! `POST /loki/api/v1/push`: protobuf + raw snappy or JSON, optionally
//! gzip- or deflate-encoded, as Loki accepts it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use bytestring::ByteString;
use http_body_util::BodyExt;
use loki_index::Labels;
use loki_logql::detect::{DetectedLevel, LevelDetector};
use loki_store::{PushEntry, PushStream};

use super::{distributed, wire, ApiError, AppState, MAX_BODY_BYTES};

/// Largest decompressed body accepted. Loki allows 5000 MiB; a body is
/// held in memory while it is decoded, so this server stops at 256 MiB
/// (agents send batches of about 1 MiB).
const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// Snappy cannot expand input by more than about 21 times (a 3-byte copy
/// of 64 bytes); a larger declared length is a lie, refused before any
/// memory is allocated for it.
const MAX_SNAPPY_EXPANSION: usize = 32;

/// Labels Loki takes `service_name` from when a stream has none, in order.
const SERVICE_NAME_SOURCES: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

pub(crate) async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: PushBody,
) -> Result<(StatusCode, String), ApiError> {
    push_shaped(state, headers, body, false).await
}

/// `/api/prom/push`: protobuf, the v1 JSON shape, or the legacy JSON shape
/// (labels as a string, entries as `{"ts": RFC 3339, "line"}`).
pub(crate) async fn legacy_push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: PushBody,
) -> Result<(StatusCode, String), ApiError> {
    push_shaped(state, headers, body, true).await
}

async fn push_shaped(
    state: AppState,
    headers: HeaderMap,
    body: PushBody,
    legacy: bool,
) -> Result<(StatusCode, String), ApiError> {
    let tenants = state.tenants(&headers)?;
    let [tenant] = tenants.as_slice() else {
        return Err(ApiError::bad_request("a push names exactly one tenant"));
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut streams = decode_body(
        header("content-type"),
        header("content-encoding"),
        body.0.as_ref(),
        legacy,
    )?;
    if streams.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error at least one valid stream is required for ingestion",
        ));
    }
    // A distributor's rate limit counts entries as sent, without the
    // level added here.
    let sent_bytes = state.distributor().map(|_| entry_bytes(&streams));
    if let Some(levels) = state.levels.of(tenant) {
        add_detected_levels(&mut streams, levels);
    }
    let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
    let bytes: usize = streams
        .iter()
        .flat_map(|s| &s.entries)
        .map(|e| e.line.len())
        .sum();
    if let Some(cluster) = state.distributor() {
        let bytes = sent_bytes.unwrap_or_default();
        distributed::distributor::push(cluster, tenant, streams, bytes).await?;
        let summary = loki_store::PushSummary {
            accepted: lines,
            ..Default::default()
        };
        state.metrics.pushed(tenant, &summary, lines, bytes);
        return Ok((StatusCode::NO_CONTENT, String::new()));
    }
    let summary = state.store.push(tenant, streams).await?;
    state.metrics.pushed(tenant, &summary, lines, bytes);
    if summary.refusals.is_empty() {
        return Ok((StatusCode::NO_CONTENT, String::new()));
    }
    let status = StatusCode::from_u16(summary.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let message: Vec<String> = summary
        .refusals
        .iter()
        .map(|r| format!("{} ({} entries)", r.message, r.entries))
        .collect();
    Ok((status, message.join("\n")))
}

/// The size of the entries as Loki's rate limits count it: each line and
/// its structured metadata's names and values.
fn entry_bytes(streams: &[PushStream]) -> usize {
    streams
        .iter()
        .flat_map(|s| &s.entries)
        .map(|e| {
            e.line.len()
                + e.metadata
                    .iter()
                    .map(|(n, v)| n.len() + v.len())
                    .sum::<usize>()
        })
        .sum()
}

/// The structured-metadata name of an entry's detected log level.
const DETECTED_LEVEL: &str = "detected_level";

/// Gives each entry the `detected_level` metadata pair Loki's distributor
/// adds, unless its stream labels or its metadata already have one: the
/// level of the stream's level label for all its entries, else each
/// entry's own (see [`LevelDetector`]).
fn add_detected_levels(streams: &mut [PushStream], levels: &LevelDetector) {
    for stream in streams {
        if stream.labels.get(DETECTED_LEVEL).is_some() {
            continue;
        }
        let of_stream = levels
            .from_labels(|name| stream.labels.get(name))
            .map(level_text);
        for entry in &mut stream.entries {
            if entry
                .metadata
                .iter()
                .any(|(name, _)| name == DETECTED_LEVEL)
            {
                continue;
            }
            let level = match &of_stream {
                Some(level) => level.clone(),
                None => level_text(levels.from_entry(&entry.metadata, &entry.line)),
            };
            if !level.is_empty() {
                entry
                    .metadata
                    .push((ByteString::from_static(DETECTED_LEVEL), level));
            }
        }
    }
}

/// A level as metadata text: the canonical names without a copy.
fn level_text(level: DetectedLevel<'_>) -> ByteString {
    match level {
        DetectedLevel::Canonical(name) => ByteString::from_static(name),
        DetectedLevel::AsSent(value) => ByteString::from(value),
    }
}

/// Each tenant's level detection (`discover_log_levels` with its
/// `log_level_fields`), worked out once from the configuration rather
/// than per push.
#[derive(Debug, Default)]
pub(crate) struct LevelDetectors {
    /// For tenants without overrides.
    default: Option<LevelDetector>,
    /// For tenants with overrides.
    tenants: HashMap<String, Option<LevelDetector>>,
}

impl LevelDetectors {
    pub(crate) fn new(config: &super::Config) -> LevelDetectors {
        let of = |limits: super::config::LimitsConfig| {
            limits
                .discover_log_levels
                .then(|| LevelDetector::new(limits.log_level_fields))
        };
        LevelDetectors {
            default: of(config.limits_config.clone()),
            tenants: config
                .overrides
                .keys()
                .map(|tenant| {
                    (
                        tenant.clone(),
                        of(config.limits_for(std::slice::from_ref(tenant))),
                    )
                })
                .collect(),
        }
    }

    /// The detector of `tenant`, if it has level detection on.
    pub(crate) fn of(&self, tenant: &str) -> Option<&LevelDetector> {
        self.tenants.get(tenant).unwrap_or(&self.default).as_ref()
    }
}

/// Decodes a push body as Loki does: `content_encoding` (none, `snappy`,
/// `gzip`, `deflate`) first, then JSON for `application/json` and
/// snappy-compressed protobuf for anything else; label sets are parsed and
/// given `service_name`.
///
/// ```
/// let body = br#"{"streams":[{"stream":{"app":"shop"},"values":[["1700000000000000000","hi"]]}]}"#;
/// let streams = loki::server::decode_push("application/json", "", body.to_vec().into())?;
/// assert_eq!(streams[0].labels.get("service_name"), Some("shop"));
/// assert_eq!(streams[0].entries[0].line, "hi");
/// # Ok::<(), loki::server::ApiError>(())
/// ```
///
/// # Errors
/// A 400 naming what is wrong, or a 413 for bodies over the limits.
pub fn decode_push(
    content_type: &str,
    content_encoding: &str,
    body: Bytes,
) -> Result<Vec<PushStream>, ApiError> {
    decode_body(content_type, content_encoding, &body, false)
}

/// [`decode_push`], with the legacy JSON shape accepted when `legacy`.
fn decode_body(
    content_type: &str,
    content_encoding: &str,
    body: &[u8],
    legacy: bool,
) -> Result<Vec<PushStream>, ApiError> {
    let body = decode_content_encoding(content_encoding, body)?;
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type == "application/json" {
        parse_json(&body, legacy)
    } else {
        parse_protobuf(&body)
    }
}

/// A body over [`MAX_BODY_BYTES`] as sent.
fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("length limit exceeded: a push body is at most {MAX_BODY_BYTES} bytes"),
    )
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "message size exceeds the limit",
    )
}

/// `body` without its `Content-Encoding`: itself, or what it inflates to.
fn decode_content_encoding<'a>(encoding: &str, body: &'a [u8]) -> Result<Cow<'a, [u8]>, ApiError> {
    let mut out = Vec::new();
    let limit = MAX_DECOMPRESSED_BYTES as u64 + 1;
    let read = match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "snappy" | "identity" => return Ok(Cow::Borrowed(body)),
        "gzip" => flate2::read::MultiGzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
        "deflate" => flate2::read::DeflateDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
        other => {
            return Err(ApiError::bad_request(format!(
                "Content-Encoding \"{other}\" not supported"
            )))
        }
    };
    read.map_err(|e| ApiError::bad_request(format!("cannot decompress the body: {e}")))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(too_large());
    }
    Ok(Cow::Owned(out))
}

fn parse_protobuf(body: &[u8]) -> Result<Vec<PushStream>, ApiError> {
    let declared = snap::raw::decompress_len(body)
        .map_err(|e| ApiError::bad_request(format!("cannot decode snappy body: {e}")))?;
    if declared > MAX_DECOMPRESSED_BYTES {
        return Err(too_large());
    }
    if declared
        > body
            .len()
            .saturating_mul(MAX_SNAPPY_EXPANSION)
            .saturating_add(64)
    {
        return Err(ApiError::bad_request(format!(
            "cannot decode snappy body: it declares {declared} bytes from {}",
            body.len()
        )));
    }
    // One buffer for the whole decompressed request: every line and
    // metadata string below is a slice of it, not a copy.
    let mut buf = PooledBody::take(declared);
    let len = snap::raw::Decoder::new()
        .decompress(body, &mut buf.bytes[..declared])
        .map_err(|e| ApiError::bad_request(format!("cannot decode snappy body: {e}")))?;
    buf.len = len;
    let raw = Bytes::from_owner(buf);
    let streams = wire::decode_push_request(&raw, |e| PushEntry {
        timestamp: e.timestamp.unix_nanos(),
        line: text(&raw, e.line),
        metadata: e
            .structured_metadata
            .iter()
            .map(|(name, value)| (text(&raw, name), text(&raw, value)))
            .collect(),
    })
    .map_err(|e| ApiError::bad_request(format!("cannot decode protobuf push request: {e}")))?;
    let mut labels_seen: HashMap<&[u8], Labels> = HashMap::new();
    streams
        .into_iter()
        .map(|stream| {
            // Agents send a stream once per request; a repeat reuses the
            // parsed label set.
            let labels = match labels_seen.get(stream.labels) {
                Some(labels) => labels.clone(),
                None => {
                    let text = std::str::from_utf8(stream.labels).map_err(|e| {
                        ApiError::bad_request(format!(
                            "error parsing labels: they are not UTF-8 ({e})"
                        ))
                    })?;
                    let labels = parse_stream_labels(text)?;
                    labels_seen.insert(stream.labels, labels.clone());
                    labels
                }
            };
            Ok(PushStream {
                labels,
                entries: stream.entries,
            })
        })
        .collect()
}

/// Decompressed bodies kept for reuse, at most this many bytes in all.
const POOLED_BODY_BYTES: usize = 32 << 20;

/// Bodies larger than this are not pooled (agents send about 1 MiB).
const POOLED_BODY_MAX: usize = 8 << 20;

/// Buffers of decompressed bodies no longer referenced.
static BODY_POOL: parking_lot::Mutex<Vec<Vec<u8>>> = parking_lot::Mutex::new(Vec::new());

/// A decompressed push body, shared by every line sliced from it. Its
/// buffer comes from [`BODY_POOL`] and goes back there when the last slice
/// is dropped, already written: a fresh buffer per request would cost the
/// allocator's `mmap`, the kernel's zeroing of every page and snappy's own
/// zero-fill, together about 7 % of the server's ingest CPU.
struct PooledBody {
    /// Initialised (earlier bodies' bytes, or zeros) at least up to the
    /// body's length.
    bytes: Vec<u8>,
    /// Bytes of this body.
    len: usize,
}

impl PooledBody {
    /// A buffer of at least `len` initialised bytes: the smallest pooled
    /// one large enough, else the largest pooled one grown (only bytes
    /// beyond its earlier use are zeroed).
    fn take(len: usize) -> PooledBody {
        let pooled = {
            let mut buffers = BODY_POOL.lock();
            // The smallest that fits, else the largest (to grow).
            buffers
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| (b.capacity() < len, b.capacity().abs_diff(len)))
                .map(|(at, _)| at)
                .map(|at| buffers.swap_remove(at))
        };
        let mut bytes = pooled.unwrap_or_default();
        if bytes.len() < len {
            bytes.resize(len, 0);
        }
        PooledBody { bytes, len: 0 }
    }

    /// Appends `data` to the body, over earlier bodies' bytes where the
    /// buffer has them.
    fn extend_from_slice(&mut self, data: &[u8]) {
        let end = self.len + data.len();
        if end <= self.bytes.len() {
            self.bytes[self.len..end].copy_from_slice(data);
        } else {
            self.bytes.truncate(self.len);
            self.bytes.extend_from_slice(data);
        }
        self.len = end;
    }
}

impl AsRef<[u8]> for PooledBody {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        let capacity = self.bytes.capacity();
        if capacity == 0 || capacity > POOLED_BODY_MAX {
            return;
        }
        let mut buffers = BODY_POOL.lock();
        let pooled: usize = buffers.iter().map(Vec::capacity).sum();
        if pooled + capacity <= POOLED_BODY_BYTES {
            buffers.push(std::mem::take(&mut self.bytes));
        }
    }
}

/// A push request's body as sent (still compressed), read into a pooled
/// buffer: collecting it into a fresh one cost the allocator's `mmap` and
/// the kernel's zeroing of every page again for each request, about 4 %
/// of the server's ingest CPU. At most [`MAX_BODY_BYTES`] are read; more
/// is a 413, as in Loki.
pub(crate) struct PushBody(PooledBody);

impl<S: Send + Sync> FromRequest<S> for PushBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<PushBody, ApiError> {
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        if declared > MAX_BODY_BYTES {
            return Err(body_too_large());
        }
        // Room for what the client declares, up to what agents send: a
        // larger declaration is believed only as its bytes arrive.
        let mut buf = PooledBody::take(declared.min(POOLED_BODY_MAX));
        let mut body = request.into_body();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if buf.len + data.len() > MAX_BODY_BYTES {
                return Err(body_too_large());
            }
            buf.extend_from_slice(&data);
        }
        Ok(PushBody(buf))
    }
}

/// A protobuf string field (a line or a structured-metadata name or value)
/// as text. Loki does not check that lines are UTF-8: it stores the bytes,
/// and every read (JSON, LogQL) sees invalid sequences as U+FFFD. This
/// server replaces them on the way in, which reads back the same; valid
/// text (the rule) is a shared slice of `body`, not a copy. `field` is a
/// part of `body`.
fn text(body: &Bytes, field: &[u8]) -> ByteString {
    ByteString::try_from(body.slice_ref(field))
        .unwrap_or_else(|_| ByteString::from(String::from_utf8_lossy(field).into_owned()))
}

/// A legacy stream: `{"labels": "{a=\"b\"}", "entries": [{"ts": RFC 3339, "line": …}]}`.
fn parse_legacy_stream(stream: &mut serde_json::Value) -> Result<PushStream, ApiError> {
    let bad =
        |detail: &str| ApiError::bad_request(format!("error parsing JSON push request: {detail}"));
    let labels = stream
        .get("labels")
        .and_then(|l| l.as_str())
        .ok_or_else(|| bad("a legacy stream has no \"labels\" string"))?;
    let labels = parse_stream_labels(labels)?;
    let mut entries = Vec::new();
    for entry in stream
        .get_mut("entries")
        .and_then(|e| e.as_array_mut())
        .into_iter()
        .flatten()
    {
        let ts = entry
            .get("ts")
            .and_then(|t| t.as_str())
            .ok_or_else(|| bad("a legacy entry has no \"ts\" string"))?;
        let timestamp = super::params::rfc3339(ts)
            .ok_or_else(|| bad(&format!("cannot parse timestamp {ts:?} as RFC 3339")))?;
        let line = take_string(entry.get_mut("line"))
            .ok_or_else(|| bad("a legacy entry has no \"line\" string"))?;
        entries.push(PushEntry {
            timestamp,
            line,
            metadata: Vec::new(),
        });
    }
    Ok(PushStream { labels, entries })
}

fn parse_json(body: &[u8], legacy: bool) -> Result<Vec<PushStream>, ApiError> {
    let bad =
        |detail: &str| ApiError::bad_request(format!("error parsing JSON push request: {detail}"));
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(&e.to_string()))?;
    let streams = value
        .get_mut("streams")
        .and_then(|s| s.as_array_mut())
        .ok_or_else(|| bad("no streams array"))?;
    let mut out = Vec::with_capacity(streams.len());
    for stream in streams {
        if legacy && stream.get("labels").is_some() {
            out.push(parse_legacy_stream(stream)?);
            continue;
        }
        let labels = stream
            .get("stream")
            .and_then(|s| s.as_object())
            .ok_or_else(|| bad("a stream has no \"stream\" object"))?;
        let mut pairs = Vec::with_capacity(labels.len());
        for (name, value) in labels {
            let value = value
                .as_str()
                .ok_or_else(|| bad("label values must be strings"))?;
            pairs.push((name.clone(), value.to_owned()));
        }
        let labels = finish_labels(pairs)?;
        let mut entries = Vec::new();
        for value in stream
            .get_mut("values")
            .and_then(|v| v.as_array_mut())
            .into_iter()
            .flatten()
        {
            let Some(parts) = value.as_array_mut() else {
                continue; // null entries are skipped, as in Loki
            };
            let timestamp = parts
                .first()
                .and_then(|t| t.as_str())
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| bad("a timestamp must be a string of Unix nanoseconds"))?;
            let line =
                take_string(parts.get_mut(1)).ok_or_else(|| bad("a line must be a string"))?;
            let mut metadata = Vec::new();
            if let Some(md) = parts.get(2) {
                let md = md
                    .as_object()
                    .ok_or_else(|| bad("structured metadata must be an object"))?;
                for (name, value) in md {
                    let value = value
                        .as_str()
                        .ok_or_else(|| bad("structured metadata values must be strings"))?;
                    metadata.push((ByteString::from(name.as_str()), ByteString::from(value)));
                }
            }
            entries.push(PushEntry {
                timestamp,
                line,
                metadata,
            });
        }
        out.push(PushStream { labels, entries });
    }
    Ok(out)
}

/// Moves a JSON string out of the parsed document (no copy of the line).
fn take_string(value: Option<&mut serde_json::Value>) -> Option<ByteString> {
    match value {
        Some(serde_json::Value::String(s)) => Some(ByteString::from(std::mem::take(s))),
        _ => None,
    }
}

/// Parses a label-set text with the workspace's one label parser.
fn parse_stream_labels(text: &str) -> Result<Labels, ApiError> {
    let set = loki_logql::parse_labels(text).map_err(|e| {
        ApiError::bad_request(format!("error parsing labels '{text}' with error: {}", e))
    })?;
    finish_labels(set.into_pairs())
}

/// Adds `service_name` as Loki does, then validates.
fn finish_labels(mut pairs: Vec<(String, String)>) -> Result<Labels, ApiError> {
    pairs.retain(|(_, v)| !v.is_empty());
    if !pairs.iter().any(|(n, _)| n == "service_name") {
        let service = SERVICE_NAME_SOURCES
            .iter()
            .find_map(|source| {
                pairs
                    .iter()
                    .find(|(n, _)| n == source)
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| "unknown_service".to_owned());
        pairs.push(("service_name".to_owned(), service));
    }
    Labels::new(pairs).map_err(|e| ApiError::bad_request(format!("error at labels: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::proto;

    /// A pushed body in the wire format: one stream, `lines` as entries.
    fn body(lines: &[&str]) -> Vec<u8> {
        let request = proto::PushRequest {
            streams: vec![proto::StreamAdapter {
                labels: r#"{app="shop"}"#.to_owned(),
                entries: lines
                    .iter()
                    .map(|line| proto::EntryAdapter {
                        timestamp: Some(proto::Timestamp {
                            seconds: 1,
                            nanos: 0,
                        }),
                        line: (*line).to_owned(),
                        structured_metadata: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            }],
        };
        snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&request))
            .unwrap()
    }

    #[test]
    fn a_reused_body_buffer_holds_only_the_new_body() {
        let long = "a long line ".repeat(10_000);
        let first = parse_protobuf(&body(&[&long, &long])).unwrap();
        assert_eq!(first[0].entries[1].line, long.as_str());
        drop(first);
        // The pool now holds the larger buffer, written: a shorter body
        // decoded into it must see none of the earlier bytes.
        for _ in 0..3 {
            let second = parse_protobuf(&body(&["short"])).unwrap();
            assert_eq!(second[0].entries.len(), 1);
            assert_eq!(second[0].entries[0].line, "short");
        }
        let pooled: usize = BODY_POOL.lock().iter().map(Vec::capacity).sum();
        assert!(pooled <= POOLED_BODY_BYTES);
    }

    /// `body` sent as separate frames, without a `Content-Length`.
    async fn read_in_frames(frames: Vec<Vec<u8>>) -> Result<Vec<u8>, ApiError> {
        let stream = futures_util::stream::iter(
            frames
                .into_iter()
                .map(|frame| Ok::<_, std::io::Error>(Bytes::from(frame))),
        );
        let request = Request::builder()
            .uri("/loki/api/v1/push")
            .method("POST")
            .body(axum::body::Body::from_stream(stream))
            .unwrap();
        let body = PushBody::from_request(request, &()).await?;
        Ok(body.0.as_ref().to_vec())
    }

    #[tokio::test]
    async fn a_pushed_body_is_read_whole_into_a_pooled_buffer_holding_only_it() {
        let long = vec![b'x'; 300_000];
        assert_eq!(
            read_in_frames(vec![long.clone(), long])
                .await
                .unwrap()
                .len(),
            600_000
        );
        // Pooled buffers now hold earlier bytes: frames of a shorter body
        // are read over them and nothing else is seen.
        for _ in 0..3 {
            let frames = vec![b"one ".to_vec(), Vec::new(), b"two".to_vec()];
            assert_eq!(read_in_frames(frames).await.unwrap(), b"one two");
        }
    }

    #[tokio::test]
    async fn a_body_streamed_past_the_limit_is_refused_with_413() {
        let frame = vec![0; 1 << 20];
        let frames = vec![frame; MAX_BODY_BYTES / (1 << 20) + 1];
        let response =
            axum::response::IntoResponse::into_response(read_in_frames(frames).await.unwrap_err());
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let message = axum::body::to_bytes(response.into_body(), 1 << 10)
            .await
            .unwrap();
        assert!(message.starts_with(b"length limit exceeded"), "{message:?}");
    }

    #[tokio::test]
    async fn a_declared_length_is_not_allocated_before_its_bytes_arrive() {
        let request = Request::builder()
            .uri("/loki/api/v1/push")
            .method("POST")
            .header(CONTENT_LENGTH, MAX_BODY_BYTES)
            .body(axum::body::Body::from("abc"))
            .unwrap();
        let body = PushBody::from_request(request, &()).await.unwrap();
        assert_eq!(body.0.as_ref(), b"abc");
        assert!(body.0.bytes.capacity() <= POOLED_BODY_MAX);
    }
}
