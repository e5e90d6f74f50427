//! Resumable uploads, the files and dataset items they become, and item
//! content (decrypted on the fly). The protocol is described in the
//! `clinlabel-ingest` crate docs.
//!
//! `PATCH /uploads/{id}` streams its body into an encrypted part: it lifts
//! the API's JSON body limit for itself (each chunk is capped by
//! `Limits::max_chunk` instead, counted as it streams) and is exempt from the
//! API's request timeout (a chunk body that stays idle is cut off by
//! `Limits::chunk_idle_timeout`; see [`exempt_from_timeout`]).

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinlabel_domain::{DomainError, ErrorCode, Phi};
use clinlabel_ingest::{Ingest, Limits};
use clinlabel_store::files::{self, FileQuery, FileView, ItemView, NewUpload, Purpose, Upload};
use clinlabel_store::{Page, Paged};
use futures::TryStreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const UPLOAD_OFFSET: &str = "upload-offset";
pub const UPLOAD_LENGTH: &str = "upload-length";

pub fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, chunk_routes) = routes!(get_upload, append_chunk, abort_upload);
    OpenApiRouter::new()
        .routes(routes!(start_upload, list_uploads))
        // Chunks stream into encrypted parts, capped per chunk by ingest.
        .routes((schemas, paths, chunk_routes.layer(DefaultBodyLimit::disable())))
        .routes(routes!(list_files))
        .routes(routes!(list_items))
        .routes(routes!(item_content))
}

/// True for the chunk route, which the API's request timeout must not cut
/// (its body has an idle timeout of its own, and the last chunk processes
/// the whole upload before answering).
pub fn exempt_from_timeout(req: &Request) -> bool {
    req.method() == Method::PATCH && req.extensions().get::<MatchedPath>().is_some_and(|m| m.as_str().ends_with("/uploads/{id}"))
}

fn ingest(s: &AppState) -> Ingest {
    Ingest::new(s.db.clone(), s.blobs.clone(), s.keyring.clone(), Limits::default())
}

fn with_offset(u: Upload, status: StatusCode) -> Response {
    let mut r = (status, Json(&u)).into_response();
    if let Ok(v) = HeaderValue::from_str(&u.received.to_string()) {
        r.headers_mut().insert(UPLOAD_OFFSET, v);
    }
    if let Ok(v) = HeaderValue::from_str(&u.size.to_string()) {
        r.headers_mut().insert(UPLOAD_LENGTH, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUploadRequest {
    /// The file's name (`.zip` archives are unpacked).
    #[schema(value_type = String)]
    pub name: Phi<String>,
    /// Total size in bytes.
    pub size: i64,
    /// SHA-256 of the whole file, hex; checked when the last byte arrives.
    pub sha256: Option<String>,
    /// `data` (default) or `guideline`.
    pub purpose: Option<Purpose>,
}

/// Opens a resumable upload (client roles of the project's organisation,
/// once the NDA and DPA are signed).
#[utoipa::path(post, path = "/projects/{id}/uploads", tag = "uploads", params(("id" = String, Path)), request_body = StartUploadRequest,
    responses((status = 201, body = Upload), (status = 403, body = ErrorBody, description = "agreement_required or forbidden"), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start_upload(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<StartUploadRequest>) -> ApiResult<Response> {
    let new = NewUpload { name: r.name, size: r.size, declared_sha256: r.sha256, purpose: r.purpose.unwrap_or_default() };
    let u = ingest(&s).start(&a.principal, &id, new).await?;
    Ok(with_offset(u, StatusCode::CREATED))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadListQuery {
    /// `open` (receiving or processing), `complete` or `failed`.
    pub state: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A project's uploads, newest first: after a browser reload the client finds
/// its open uploads here and resumes each from its `received` offset.
#[utoipa::path(get, path = "/projects/{id}/uploads", tag = "uploads", params(("id" = String, Path), UploadListQuery),
    responses((status = 200, body = Paged<Upload>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_uploads(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiQuery(q): ApiQuery<UploadListQuery>) -> ApiResult<Json<Paged<Upload>>> {
    Ok(Json(files::list_uploads(&s.db, &a.principal, &id, q.state.as_deref(), page(q.page, q.per_page)).await?))
}

/// Where an upload stands: `received` (also the `Upload-Offset` header) is
/// where the next chunk must start.
#[utoipa::path(get, path = "/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, body = Upload, headers(("Upload-Offset" = i64), ("Upload-Length" = i64))), (status = 404, body = ErrorBody)))]
async fn get_upload(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(with_offset(ingest(&s).status(&a.principal, &id).await?, StatusCode::OK))
}

/// Appends a chunk at `Upload-Offset`. The body (`application/offset+octet-stream`
/// or `application/octet-stream`) streams into an encrypted part; a broken
/// body keeps nothing. The chunk that completes the upload also processes it
/// and answers with the finished upload.
#[utoipa::path(patch, path = "/uploads/{id}", tag = "uploads",
    params(("id" = String, Path), ("Upload-Offset" = i64, Header, description = "The upload's current offset")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 200, body = Upload, headers(("Upload-Offset" = i64))), (status = 400, body = ErrorBody, description = "upload_interrupted"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "upload_offset_mismatch"),
              (status = 413, body = ErrorBody, description = "upload_too_large"), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody, description = "archive_rejected")))]
async fn append_chunk(State(s): State<AppState>, a: Auth, Path(id): Path<String>, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).map(|v| v.trim().to_ascii_lowercase());
    if !matches!(ct.as_deref(), Some("application/offset+octet-stream" | "application/octet-stream")) {
        return Err(DomainError::new(ErrorCode::UnsupportedMediaType).with_message("Send chunks as application/offset+octet-stream.").into());
    }
    let offset: i64 = headers
        .get(UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .filter(|n: &i64| *n >= 0)
        .ok_or_else(|| ApiError::from(DomainError::field("Upload-Offset", "send the upload's current offset as a whole number of bytes")))?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let u = ingest(&s).append(&a.principal, &id, offset, declared, stream).await?;
    Ok(with_offset(u, StatusCode::OK))
}

/// Aborts an open upload and deletes what it received.
#[utoipa::path(delete, path = "/uploads/{id}", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, body = Upload), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn abort_upload(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(with_offset(ingest(&s).abort(&a.principal, &id).await?, StatusCode::OK))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FileListQuery {
    /// `accepted` or `rejected`.
    pub status: Option<String>,
    /// Only the files this upload produced or found already stored.
    pub upload_id: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

fn page(p: Option<u32>, per: Option<u32>) -> Page {
    let d = Page::default();
    Page { page: p.unwrap_or(d.page), per_page: per.unwrap_or(d.per_page) }
}

/// A project's files, with status and the reason of each rejection.
#[utoipa::path(get, path = "/projects/{id}/files", tag = "uploads", params(("id" = String, Path), FileListQuery),
    responses((status = 200, body = Paged<FileView>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_files(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiQuery(q): ApiQuery<FileListQuery>) -> ApiResult<Json<Paged<FileView>>> {
    let fq = FileQuery { status: q.status, upload_id: q.upload_id };
    Ok(Json(files::list_files(&s.db, &a.principal, &id, &fq, page(q.page, q.per_page)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ItemListQuery {
    /// Only the items of this file.
    pub file_id: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// A project's dataset items.
#[utoipa::path(get, path = "/projects/{id}/items", tag = "uploads", params(("id" = String, Path), ItemListQuery),
    responses((status = 200, body = Paged<ItemView>), (status = 404, body = ErrorBody)))]
async fn list_items(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiQuery(q): ApiQuery<ItemListQuery>) -> ApiResult<Json<Paged<ItemView>>> {
    Ok(Json(files::list_items(&s.db, &a.principal, &id, q.file_id.as_deref(), page(q.page, q.per_page)).await?))
}

/// Parses a single `bytes=` range against `len`: `Ok(None)` for no (or an
/// ignorable) header, `Err` when unsatisfiable.
pub(crate) fn parse_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multiple ranges: served whole (allowed by RFC 9110).
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || ApiError::from(DomainError::new(ErrorCode::RangeNotSatisfiable).with_details(serde_json::json!({ "length": len })));
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| unsatisfiable())?;
        if n == 0 {
            return Err(unsatisfiable());
        }
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().map_err(|_| unsatisfiable())?;
        let end = if b.is_empty() { len } else { b.parse::<u64>().map_err(|_| unsatisfiable())?.saturating_add(1).min(len) };
        (start, end)
    };
    if start >= len || start >= end {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// A note that does not read back as ingest recorded it (a server fault).
pub(crate) fn note_error(e: clinlabel_ingest::note::NoteError) -> ApiError {
    match e {
        clinlabel_ingest::note::NoteError::Blob(b) => b.into(),
        other => ApiError::internal(other.to_string()),
    }
}

/// What the content routes answer for an item: the stored bytes, or for a
/// CSV row or a BioC document the note as JSON (see `clinlabel_ingest::note`).
pub(crate) async fn served_item(s: &AppState, key: &clinlabel_crypto::DataKey, item: clinlabel_ingest::note::ItemRef<'_>) -> ApiResult<clinlabel_ingest::note::Served> {
    clinlabel_ingest::note::served(&s.blobs, key, item).await.map_err(note_error)
}

/// An item's content, decrypted on the fly (the project's client and provider
/// staff): its bytes as stored — JSONL lines as `application/json` — or,
/// for a CSV row or a BioC document, the note as JSON `{"id"?, "text",
/// "metadata"?}` read from its bytes (JSONL's shape). Supports a single HTTP `Range`.
#[utoipa::path(get, path = "/items/{id}/content", tag = "uploads", params(("id" = String, Path)),
    responses((status = 200, description = "The item's bytes, or its note as JSON"), (status = 206, description = "The requested range"),
              (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn item_content(State(s): State<AppState>, a: Auth, Path(id): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    use clinlabel_ingest::note::{ItemRef, Served};
    let c = files::item_content(&s.db, &a.principal, &id).await?;
    let (istart, iend) = (c.item.byte_start as u64, c.item.byte_end as u64);
    let key = clinlabel_store::keys::data_key(&s.db, &s.keyring, &c.key_scope).await?;
    let item = ItemRef { blob_id: &c.blob_id, media_type: &c.media_type, kind: &c.item.kind, range: istart..iend, meta: &c.item.meta };
    let (content_type, json) = match served_item(&s, &key, item).await? {
        Served::Stored { content_type } => (content_type, None),
        Served::Json(j) => ("application/json".to_string(), Some(j)),
    };
    let len = json.as_ref().map_or(iend - istart, |j| j.len() as u64);
    let range = parse_range(&headers, len)?;
    let (from, to) = range.unwrap_or((0, len));
    let body = if let Some(j) = json {
        Body::from(j[from as usize..to as usize].to_vec())
    } else if to > from {
        let read = s.blobs.get_range(&key, &c.blob_id, istart + from..istart + to).await?;
        Body::from_stream(read.stream)
    } else {
        Body::empty()
    };
    let mut r = Response::new(body);
    *r.status_mut() = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(to - from));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if range.is_some()
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", from, to - 1, len))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(&HeaderMap::new(), 10).unwrap(), None);
        assert_eq!(parse_range(&h("bytes=0-3"), 10).unwrap(), Some((0, 4)));
        assert_eq!(parse_range(&h("bytes=5-"), 10).unwrap(), Some((5, 10)));
        assert_eq!(parse_range(&h("bytes=-3"), 10).unwrap(), Some((7, 10)));
        assert_eq!(parse_range(&h("bytes=2-100"), 10).unwrap(), Some((2, 10)));
        assert!(parse_range(&h("bytes=10-"), 10).is_err());
        assert_eq!(parse_range(&h("bytes=0-1,3-4"), 10).unwrap(), None);
    }
}
