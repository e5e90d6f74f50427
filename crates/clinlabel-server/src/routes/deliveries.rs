//! Certified delivery (lifecycle step 7): build (PM), certify (the QA
//! reviewer in charge), versions, the completion report (JSON, HTML, PDF),
//! the data room (links, download rights, the download log, downloads of a
//! file or the whole zip with HTTP ranges) and the project's audit export.
//! The service's public key is served outside the API, at
//! `/.well-known/clinlabel-delivery-key` ([`well_known_key`]).
//!
//! Downloads need a signed-in caller with the download right *and* a live
//! link: an expired or revoked link answers 410 `link_gone`; a client
//! member without the right gets 403 on data but reads the report.

use crate::AppState;
use crate::delivery;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Auth};
use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinlabel_delivery::report::Report;
use clinlabel_domain::{ErrorCode, Secret};
use clinlabel_store::deliveries::{self, Delivery, Download, DownloadEvent, Downloader, Link, NewLink, ServedFile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(build, list))
        .routes(routes!(get_delivery))
        .routes(routes!(certify))
        .routes(routes!(report_json))
        .routes(routes!(report_html))
        .routes(routes!(report_pdf))
        .routes(routes!(create_link, list_links))
        .routes(routes!(revoke_link))
        .routes(routes!(download_log))
        .routes(routes!(download))
        .routes(routes!(download_file))
        .routes(routes!(list_downloaders))
        .routes(routes!(grant_downloader, withdraw_downloader))
        .routes(routes!(audit_export))
}

/// True for the build route, which streams a whole project into storage and
/// may take longer than the API's request timeout.
pub fn exempt_from_timeout(req: &Request) -> bool {
    req.method() == Method::POST && req.extensions().get::<MatchedPath>().is_some_and(|m| m.as_str().ends_with("/projects/{id}/deliveries"))
}

/// Builds a new delivery version from the approved batches (PM). The build
/// runs to its end even if the caller disconnects.
#[utoipa::path(post, path = "/projects/{id}/deliveries", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 201, body = Delivery), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "batches_not_approved, export_format_unavailable or invalid_transition")))]
async fn build(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Delivery>)> {
    let task = tokio::spawn(async move { delivery::build(&s.db, &s.blobs, &s.keyring, &a.principal, &id).await });
    let d = task.await.map_err(|e| ApiError::internal(format!("delivery build task: {e}")))??;
    Ok((StatusCode::CREATED, Json(d)))
}

/// A project's delivery versions, newest first (clients see certified ones).
#[utoipa::path(get, path = "/projects/{id}/deliveries", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Delivery>), (status = 404, body = ErrorBody)))]
async fn list(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<Delivery>>> {
    Ok(Json(deliveries::list(&s.db, &a.principal, &id).await?))
}

#[utoipa::path(get, path = "/deliveries/{id}", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Delivery), (status = 404, body = ErrorBody)))]
async fn get_delivery(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Delivery>> {
    Ok(Json(deliveries::get(&s.db, &a.principal, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertifyRequest {
    /// The certification statement, typed by the reviewer (20 to 2,000 characters).
    pub statement: String,
    /// The reviewer's password, re-entered to sign.
    #[schema(value_type = String)]
    pub password: Secret<String>,
}

/// The QA reviewer in charge certifies a built delivery: the statement is
/// bound to the manifest's SHA-256 and signed by the service.
#[utoipa::path(post, path = "/deliveries/{id}/certify", tag = "deliveries", params(("id" = String, Path)), request_body = CertifyRequest,
    responses((status = 200, body = Delivery), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn certify(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<CertifyRequest>) -> ApiResult<Json<Delivery>> {
    Ok(Json(deliveries::certify(&s.db, &s.keyring, &a.principal, &id, &r.statement, r.password).await?))
}

/// The completion report's data (everyone who sees the delivery).
#[utoipa::path(get, path = "/deliveries/{id}/report", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Object, description = "The report model"), (status = 404, body = ErrorBody)))]
async fn report_json(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Report>> {
    Ok(Json(deliveries::report(&s.db, &a.principal, &id).await?))
}

async fn report_file(s: &AppState, a: &Auth, id: &str, path: &str, disposition: &str) -> ApiResult<Response> {
    let f = deliveries::report_file(&s.db, &a.principal, id, path).await?;
    let key = match &f.source {
        deliveries::FileSource::Blob { key_scope, .. } => Some(clinlabel_store::keys::data_key(&s.db, &s.keyring, key_scope).await?),
        deliveries::FileSource::Bytes(_) => None,
    };
    let body = delivery::file_stream(&s.blobs, key.as_ref(), &f, 0..f.size).await?;
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&f.media_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.size));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{}\"", f.path)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// The completion report as HTML with inline SVG charts.
#[utoipa::path(get, path = "/deliveries/{id}/report.html", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, description = "text/html"), (status = 404, body = ErrorBody)))]
async fn report_html(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    report_file(&s, &a, &id, clinlabel_delivery::REPORT_HTML, "inline").await
}

/// The completion report as PDF.
#[utoipa::path(get, path = "/deliveries/{id}/report.pdf", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, description = "application/pdf"), (status = 404, body = ErrorBody)))]
async fn report_pdf(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    report_file(&s, &a, &id, clinlabel_delivery::REPORT_PDF, "attachment").await
}

/// A new link and its token (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedLink {
    pub link: Link,
    /// The link's token: `GET /api/v1/data-room/{token}` downloads.
    pub token: String,
    /// The download path of the link.
    pub url: String,
}

/// Creates a data-room link to the whole delivery or one file (callers with the download right).
#[utoipa::path(post, path = "/deliveries/{id}/links", tag = "deliveries", params(("id" = String, Path)), request_body = NewLink,
    responses((status = 201, body = CreatedLink), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_link(State(s): State<AppState>, a: Auth, Path(id): Path<String>, ApiJson(r): ApiJson<NewLink>) -> ApiResult<(StatusCode, Json<CreatedLink>)> {
    let (link, token) = deliveries::create_link(&s.db, &a.principal, &id, r).await?;
    let url = format!("/api/v1/data-room/{}", token.expose());
    Ok((StatusCode::CREATED, Json(CreatedLink { link, token: token.expose().clone(), url })))
}

/// A delivery's links with their status (active, expired, revoked).
#[utoipa::path(get, path = "/deliveries/{id}/links", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Link>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_links(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<Link>>> {
    Ok(Json(deliveries::links(&s.db, &a.principal, &id).await?))
}

/// Revokes a link: it answers 410 from now on.
#[utoipa::path(delete, path = "/data-room/links/{id}", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Link), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_link(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Link>> {
    Ok(Json(deliveries::revoke_link(&s.db, &a.principal, &id).await?))
}

/// Who downloaded what and when.
#[utoipa::path(get, path = "/deliveries/{id}/downloads", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Vec<DownloadEvent>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn download_log(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<DownloadEvent>>> {
    Ok(Json(deliveries::downloads(&s.db, &a.principal, &id).await?))
}

/// Parses a single `bytes=` range against `len`; `If-Range` with another
/// validator than `etag` asks for the whole content.
fn range_of(headers: &HeaderMap, len: u64, etag: &str) -> Result<Option<(u64, u64)>, ApiError> {
    if let Some(ir) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && ir.trim() != etag
    {
        return Ok(None);
    }
    super::uploads::parse_range(headers, len)
}

fn attachment(body: Body, len: u64, range: Option<(u64, u64)>, media: &str, name: &str, etag: &str) -> Response {
    let (from, to) = range.unwrap_or((0, len));
    let mut r = Response::new(body);
    *r.status_mut() = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(media).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(to - from));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if range.is_some()
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", from, to - 1, len))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

async fn project_key(s: &AppState, d: &Download) -> ApiResult<clinlabel_crypto::DataKey> {
    Ok(clinlabel_store::keys::data_key(&s.db, &s.keyring, &clinlabel_store::projects::key_scope(&d.project_id)).await?)
}

async fn serve_file(s: &AppState, a: &Auth, d: &Download, f: &ServedFile, headers: &HeaderMap) -> ApiResult<Response> {
    let etag = format!("\"{}\"", f.sha256);
    let range = range_of(headers, f.size, &etag)?;
    deliveries::record_download(&s.db, &a.principal, d, Some(f), range).await?;
    let key = project_key(s, d).await?;
    let (from, to) = range.unwrap_or((0, f.size));
    let body = delivery::file_stream(&s.blobs, Some(&key), f, from..to).await?;
    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
    Ok(attachment(Body::from_stream(body), f.size, range, &f.media_type, name, &etag))
}

/// Downloads through a link: the whole delivery as a zip (a file link: that
/// file). Resumable with `Range` (and `If-Range` on the `ETag`).
#[utoipa::path(get, path = "/data-room/{token}", tag = "deliveries", params(("token" = String, Path)),
    responses((status = 200, description = "application/zip"), (status = 206, description = "The requested range"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody, description = "link_gone"), (status = 416, body = ErrorBody)))]
async fn download(State(s): State<AppState>, a: Auth, Path(token): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let d = deliveries::resolve_link(&s.db, &s.keyring, &a.principal, &token).await?;
    if !d.whole {
        let f = d.files.first().cloned().ok_or(ErrorCode::NotFound)?;
        return serve_file(&s, &a, &d, &f, &headers).await;
    }
    let plan = delivery::zip_plan(&d);
    let etag = format!("\"zip-{}\"", d.manifest_sha256);
    let range = range_of(&headers, plan.len(), &etag)?;
    deliveries::record_download(&s.db, &a.principal, &d, None, range).await?;
    let key = project_key(&s, &d).await?;
    let (from, to) = range.unwrap_or((0, plan.len()));
    let body = delivery::zip_stream(s.blobs.clone(), Some(key), &d, &plan, from..to);
    Ok(attachment(Body::from_stream(body), plan.len(), range, "application/zip", &format!("{}.zip", d.folder), &etag))
}

/// Downloads one file through a whole-delivery link (`file_id` as listed,
/// or the name of a certifying file such as `manifest.json`).
#[utoipa::path(get, path = "/data-room/{token}/files/{file_id}", tag = "deliveries", params(("token" = String, Path), ("file_id" = String, Path)),
    responses((status = 200, description = "The file"), (status = 206, description = "The requested range"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn download_file(State(s): State<AppState>, a: Auth, Path((token, file_id)): Path<(String, String)>, headers: HeaderMap) -> ApiResult<Response> {
    let d = deliveries::resolve_link(&s.db, &s.keyring, &a.principal, &token).await?;
    let f = d.files.iter().find(|f| f.id == file_id).cloned().ok_or(ErrorCode::NotFound)?;
    serve_file(&s, &a, &d, &f, &headers).await
}

/// Client members holding the download right on the project (client admin).
#[utoipa::path(get, path = "/projects/{id}/data-room/downloaders", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Downloader>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_downloaders(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<Downloader>>> {
    Ok(Json(deliveries::downloaders(&s.db, &a.principal, &id).await?))
}

/// Grants a client member the download right on the project (client admin).
#[utoipa::path(put, path = "/projects/{id}/data-room/downloaders/{user_id}", tag = "deliveries", params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn grant_downloader(State(s): State<AppState>, a: Auth, Path((id, user)): Path<(String, String)>) -> ApiResult<StatusCode> {
    deliveries::set_downloader(&s.db, &a.principal, &id, &user, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Withdraws a client member's download right (client admin).
#[utoipa::path(delete, path = "/projects/{id}/data-room/downloaders/{user_id}", tag = "deliveries", params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn withdraw_downloader(State(s): State<AppState>, a: Auth, Path((id, user)): Path<(String, String)>) -> ApiResult<StatusCode> {
    deliveries::set_downloader(&s.db, &a.principal, &id, &user, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's audit trail as JSONL inside the whole hash chain (the
/// project's events in full, others as links only), streamed. The export
/// itself is audited first, so it is in it. Verification: README.
#[utoipa::path(get, path = "/projects/{id}/audit.jsonl", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, description = "application/jsonl"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn audit_export(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let head = deliveries::audit_export_head(&s.db, &a.principal, &id).await?;
    let stream = delivery::audit_stream(s.db.clone(), id.clone(), head, clinlabel_store::db::now_ms());
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jsonl"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"audit-{id}.jsonl\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// `GET /.well-known/clinlabel-delivery-key`: the public key that signs
/// manifests and certifications (JSON with the raw key, its id and PEM).
pub async fn well_known_key(State(s): State<AppState>) -> Response {
    match deliveries::public_key(&s.db, &s.keyring).await {
        Ok(k) => {
            let pem = k.pem();
            let mut r = Json(serde_json::json!({ "algorithm": k.algorithm, "public_key": k.public_key, "key_id": k.key_id, "pem": pem })).into_response();
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            r
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
