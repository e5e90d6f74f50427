//! The frame service: a DICOM series item's layout and its frames, decoded
//! on the server from the de-identified instances.
//!
//! - `GET …/series`: the series in viewing order — one entry per frame with
//!   what the viewer needs to read and place it (rows, columns, samples,
//!   dtype, rescale, window presets, pixel spacing, orientation, position).
//! - `GET …/frames/{n}`: frame `n` of that order as raw little-endian stored
//!   values (`application/octet-stream`; `X-Frame-*` headers repeat the
//!   dtype and size), HTTP `Range` and `If-None-Match` honoured; or, with
//!   `?format=png`, an 8-bit PNG at `center`/`width` (else the first preset).
//!
//! Both exist under `/items/{id}` (project staff and the client) and under
//! `/tasks/{id}` (the tasker or reviewer holding the task). Decoding happens
//! on the blocking pool; parsed instances and series layouts are cached in
//! memory (bounded by bytes, least recently used evicted), so scrolling a
//! multi-frame object does not decrypt and parse it again for every frame.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clinlabel_dicom::{DicomFile, ImageMeta, Limits, Window};
use clinlabel_domain::ErrorCode;
use clinlabel_store::files::{self, InstanceDeidentification, SeriesAccess};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(item_series))
        .routes(routes!(item_deidentification))
        .routes(routes!(item_frame))
        .routes(routes!(task_series))
        .routes(routes!(task_frame))
}

/// A window preset (centre / width in modality units).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct WindowPreset {
    pub center: f64,
    pub width: f64,
}

/// One frame of the series, in viewing order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesFrame {
    /// Index of the instance in `instances`.
    pub instance: usize,
    /// Frame number within that instance (0-based).
    pub frame: u32,
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    /// numpy-style dtype of the raw frame: uint8, int8, uint16, int16, uint32, int32.
    pub dtype: String,
    pub bits_stored: u16,
    /// MONOCHROME1, MONOCHROME2, RGB, PALETTE COLOR… (YBR is served as RGB).
    pub photometric: String,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    pub windows: Vec<WindowPreset>,
    /// Row spacing, column spacing (mm).
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_thickness: Option<f64>,
    /// Image Position (Patient) of the first pixel (mm).
    pub image_position: Option<[f64; 3]>,
    /// Image Orientation (Patient): row then column direction cosines.
    pub image_orientation: Option<[f64; 6]>,
}

/// One de-identified instance of the series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesInstance {
    pub sop_instance_uid: Option<String>,
    pub sop_class_uid: Option<String>,
    pub instance_number: Option<i64>,
    pub frames: u32,
    pub transfer_syntax: String,
}

/// A DICOM series item in viewing order. Every UID is the de-identified one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesView {
    pub item_id: String,
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub frame_of_reference_uid: Option<String>,
    pub modality: Option<String>,
    /// How instances were ordered: `slice_normal` (Image Position along the
    /// slice normal) or `instance_number`.
    pub ordering: String,
    pub instances: Vec<SeriesInstance>,
    pub frames: Vec<SeriesFrame>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FrameQuery {
    /// `raw` (default): little-endian stored values; `png`: 8-bit, windowed.
    pub format: Option<String>,
    /// Window centre for `png` (modality units).
    pub center: Option<f64>,
    /// Window width for `png`.
    pub width: Option<f64>,
}

/// The series' layout (cached) and where each instance's bytes are.
struct Layout {
    view: SeriesView,
    blobs: Vec<String>,
}

/// A small byte-bounded LRU (the sizes here: a few hundred entries at most).
struct Lru<V> {
    budget: usize,
    used: usize,
    tick: u64,
    map: HashMap<String, (u64, usize, Arc<V>)>,
}

impl<V> Lru<V> {
    fn new(budget: usize) -> Self {
        Lru { budget, used: 0, tick: 0, map: HashMap::new() }
    }
    fn get(&mut self, k: &str) -> Option<Arc<V>> {
        self.tick += 1;
        let t = self.tick;
        self.map.get_mut(k).map(|e| {
            e.0 = t;
            e.2.clone()
        })
    }
    fn put(&mut self, k: String, size: usize, v: Arc<V>) {
        if size > self.budget {
            return;
        }
        self.tick += 1;
        if let Some(old) = self.map.insert(k, (self.tick, size, v)) {
            self.used -= old.1;
        }
        self.used += size;
        while self.used > self.budget {
            let Some(oldest) = self.map.iter().min_by_key(|(_, e)| e.0).map(|(k, _)| k.clone()) else { break };
            if let Some(e) = self.map.remove(&oldest) {
                self.used -= e.1;
            }
        }
    }
}

struct Instance {
    file: DicomFile,
    meta: ImageMeta,
}

fn instances() -> &'static Mutex<Lru<Instance>> {
    static C: OnceLock<Mutex<Lru<Instance>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(Lru::new(512 << 20)))
}

fn layouts() -> &'static Mutex<Lru<Layout>> {
    static C: OnceLock<Mutex<Lru<Layout>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(Lru::new(64 << 20)))
}

fn dtype(meta: &ImageMeta) -> &'static str {
    let signed = meta.pixel_representation == 1;
    match (meta.bits_allocated, signed) {
        (1, _) => "uint8",
        (8, false) => "uint8",
        (8, true) => "int8",
        (16, false) => "uint16",
        (16, true) => "int16",
        (32, false) => "uint32",
        (32, true) => "int32",
        _ => "uint8",
    }
}

fn photometric(meta: &ImageMeta) -> String {
    if meta.photometric.starts_with("YBR") { "RGB".into() } else { meta.photometric.clone() }
}

async fn layout(s: &AppState, access: &SeriesAccess) -> ApiResult<Arc<Layout>> {
    let key = format!("{}#{}", access.item_id, access.instances);
    if let Some(l) = layouts().lock().expect("not poisoned").get(&key) {
        return Ok(l);
    }
    let stored = files::series_instances(&s.db, access).await?;
    let metas = stored
        .iter()
        .map(|i| serde_json::from_str::<ImageMeta>(&i.meta).map_err(|e| ApiError::internal(format!("stored instance meta of {}: {e}", i.file_id))))
        .collect::<Result<Vec<_>, _>>()?;
    let (ordering, order) = clinlabel_dicom::group::series_frames(&metas);
    let frames = order
        .iter()
        .map(|&(i, f)| {
            let m = &metas[i];
            let info = m.frame_info(f as usize);
            SeriesFrame {
                instance: i,
                frame: f,
                rows: m.rows,
                columns: m.columns,
                samples_per_pixel: m.samples_per_pixel,
                dtype: dtype(m).into(),
                bits_stored: m.bits_stored,
                photometric: photometric(m),
                rescale_slope: info.rescale_slope,
                rescale_intercept: info.rescale_intercept,
                windows: info.windows.iter().map(|w| WindowPreset { center: w.center, width: w.width }).collect(),
                pixel_spacing: info.pixel_spacing,
                slice_thickness: info.slice_thickness,
                image_position: info.image_position,
                image_orientation: info.image_orientation,
            }
        })
        .collect();
    let first = metas.first();
    let view = SeriesView {
        item_id: access.item_id.clone(),
        study_instance_uid: first.and_then(|m| m.study_instance_uid.clone()),
        series_instance_uid: first.and_then(|m| m.series_instance_uid.clone()),
        frame_of_reference_uid: first.and_then(|m| m.frame_of_reference_uid.clone()),
        modality: first.and_then(|m| m.modality.clone()),
        ordering: match ordering {
            clinlabel_dicom::group::Ordering::SliceNormal => "slice_normal",
            clinlabel_dicom::group::Ordering::InstanceNumber => "instance_number",
        }
        .into(),
        instances: metas
            .iter()
            .map(|m| SeriesInstance {
                sop_instance_uid: m.sop_instance_uid.clone(),
                sop_class_uid: m.sop_class_uid.clone(),
                instance_number: m.instance_number,
                frames: m.frames,
                transfer_syntax: m.transfer_syntax.clone(),
            })
            .collect(),
        frames,
    };
    let size = stored.iter().map(|i| i.meta.len()).sum::<usize>() * 2 + 1024;
    let l = Arc::new(Layout { view, blobs: stored.into_iter().map(|i| i.blob_id).collect() });
    layouts().lock().expect("not poisoned").put(key, size, l.clone());
    Ok(l)
}

async fn instance(s: &AppState, access: &SeriesAccess, blob_id: &str) -> ApiResult<Arc<Instance>> {
    if let Some(i) = instances().lock().expect("not poisoned").get(blob_id) {
        return Ok(i);
    }
    let key = clinlabel_store::keys::data_key(&s.db, &s.keyring, &access.key_scope).await?;
    let bytes = s.blobs.get_bytes(&key, blob_id).await?;
    let size = bytes.len();
    let parsed = tokio::task::spawn_blocking(move || {
        clinlabel_dicom::open_bytes(&bytes, &Limits::default()).map(|file| {
            let meta = clinlabel_dicom::image_meta(&file);
            Instance { file, meta }
        })
    })
    .await
    .map_err(|e| ApiError::internal(format!("parse task: {e}")))?
    .map_err(|e| ApiError::internal(format!("stored de-identified instance {blob_id} does not parse: {e}")))?;
    let i = Arc::new(parsed);
    // The parsed object holds about the file's size again.
    instances().lock().expect("not poisoned").put(blob_id.to_string(), size * 2, i.clone());
    Ok(i)
}

async fn series_view(s: &AppState, access: SeriesAccess) -> ApiResult<Json<SeriesView>> {
    Ok(Json(layout(s, &access).await?.view.clone()))
}

async fn frame(s: &AppState, access: SeriesAccess, n: usize, q: FrameQuery, headers: &HeaderMap) -> ApiResult<Response> {
    let l = layout(s, &access).await?;
    let f = l.view.frames.get(n).ok_or(ErrorCode::FrameOutOfRange)?.clone();
    let blob_id = l.blobs[f.instance].clone();
    let png = match q.format.as_deref() {
        None | Some("raw") => false,
        Some("png") => true,
        Some(other) => {
            return Err(clinlabel_domain::DomainError::new(ErrorCode::InvalidQuery).with_message(format!("format: {other:?} is not raw or png")).into());
        }
    };
    let etag = match (png, q.center, q.width) {
        (false, _, _) => format!("\"{blob_id}.{}\"", f.frame),
        (true, c, w) => format!("\"{blob_id}.{}.png.{:?}.{:?}\"", f.frame, c, w),
    };
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).map_err(|e| ApiError::internal(e.to_string()))?);
        return Ok(r);
    }
    let inst = instance(s, &access, &blob_id).await?;
    let window = match (q.center, q.width) {
        (Some(c), Some(w)) if c.is_finite() && w.is_finite() => Some(Window { center: c, width: w.max(1.0) }),
        (None, None) => f.windows.first().map(|w| Window { center: w.center, width: w.width }),
        _ => {
            return Err(clinlabel_domain::DomainError::new(ErrorCode::InvalidQuery).with_message("center and width: give both, as numbers, or neither").into());
        }
    };
    let (slope, intercept) = (f.rescale_slope, f.rescale_intercept);
    let frame_no = f.frame;
    let decoded = tokio::task::spawn_blocking(move || {
        let fr = clinlabel_dicom::decode_frame(&inst.file, &inst.meta, frame_no)?;
        if png {
            let (px, rgb) = clinlabel_dicom::pixels::to_display_8bit(&fr, slope, intercept, window);
            clinlabel_dicom::encode_png(fr.columns, fr.rows, &px, rgb)
        } else {
            Ok(fr.data)
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("decode task: {e}")))?
    .map_err(|e| ApiError::internal(format!("frame {frame_no} of stored instance {blob_id}: {e}")))?;
    let len = decoded.len() as u64;
    let range = if png { None } else { super::uploads::parse_range(headers, len)? };
    let (from, to) = range.unwrap_or((0, len));
    let body = decoded[from as usize..to as usize].to_vec();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let h = r.headers_mut();
    let hv = |s: String| HeaderValue::from_str(&s).map_err(|e| ApiError::internal(e.to_string()));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(if png { "image/png" } else { "application/octet-stream" }));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(to - from));
    h.insert(header::ETAG, hv(etag)?);
    // De-identified and immutable (a blob id never changes content): the
    // browser may keep it for the session's work, never a shared cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    if !png {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert("x-frame-dtype", hv(f.dtype.clone())?);
        h.insert("x-frame-rows", HeaderValue::from(f.rows));
        h.insert("x-frame-columns", HeaderValue::from(f.columns));
        h.insert("x-frame-samples", HeaderValue::from(f.samples_per_pixel));
    }
    if let Some((from, to)) = range {
        h.insert(header::CONTENT_RANGE, hv(format!("bytes {}-{}/{}", from, to - 1, len))?);
    }
    Ok(r)
}

/// A DICOM series item in viewing order, with each frame's geometry and
/// display values (project staff and the client).
#[utoipa::path(get, path = "/items/{id}/series", tag = "imaging", params(("id" = String, Path)),
    responses((status = 200, body = SeriesView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn item_series(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<SeriesView>> {
    let access = files::item_series(&s.db, &a.principal, &id).await?;
    series_view(&s, access).await
}

/// What de-identification did to each instance of a DICOM series item, and
/// which instances may carry burned-in text (project staff and the client).
#[utoipa::path(get, path = "/items/{id}/deidentification", tag = "imaging", params(("id" = String, Path)),
    responses((status = 200, body = Vec<InstanceDeidentification>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn item_deidentification(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<InstanceDeidentification>>> {
    let access = files::item_series(&s.db, &a.principal, &id).await?;
    Ok(Json(files::series_deidentification(&s.db, &access).await?))
}

/// Frame `n` (0-based, in the series' viewing order) of a DICOM series item:
/// raw little-endian stored values, or an 8-bit PNG with `format=png`.
#[utoipa::path(get, path = "/items/{id}/frames/{n}", tag = "imaging", params(("id" = String, Path), ("n" = usize, Path), FrameQuery),
    responses((status = 200, description = "The frame"), (status = 206, description = "The requested byte range"), (status = 304),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn item_frame(State(s): State<AppState>, a: Auth, Path((id, n)): Path<(String, usize)>, ApiQuery(q): ApiQuery<FrameQuery>, headers: HeaderMap) -> ApiResult<Response> {
    let access = files::item_series(&s.db, &a.principal, &id).await?;
    frame(&s, access, n, q, &headers).await
}

/// The DICOM series of a task the caller holds, in viewing order.
#[utoipa::path(get, path = "/tasks/{id}/series", tag = "imaging", params(("id" = String, Path)),
    responses((status = 200, body = SeriesView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn task_series(State(s): State<AppState>, a: Auth, Path(id): Path<String>) -> ApiResult<Json<SeriesView>> {
    let access = files::task_series(&s.db, &a.principal, &id).await?;
    series_view(&s, access).await
}

/// Frame `n` of the DICOM series of a task the caller holds.
#[utoipa::path(get, path = "/tasks/{id}/frames/{n}", tag = "imaging", params(("id" = String, Path), ("n" = usize, Path), FrameQuery),
    responses((status = 200, description = "The frame"), (status = 206, description = "The requested byte range"), (status = 304),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 416, body = ErrorBody)))]
async fn task_frame(State(s): State<AppState>, a: Auth, Path((id, n)): Path<(String, usize)>, ApiQuery(q): ApiQuery<FrameQuery>, headers: HeaderMap) -> ApiResult<Response> {
    let access = files::task_series(&s.db, &a.principal, &id).await?;
    frame(&s, access, n, q, &headers).await
}

#[cfg(test)]
mod tests {
    use super::Lru;
    use std::sync::Arc;

    #[test]
    fn the_cache_evicts_the_least_recently_used_within_its_budget() {
        let mut c = Lru::new(10);
        c.put("a".into(), 4, Arc::new(1));
        c.put("b".into(), 4, Arc::new(2));
        assert_eq!(c.get("a").as_deref(), Some(&1)); // a is now the most recent
        c.put("c".into(), 4, Arc::new(3)); // 12 > 10: b goes
        assert!(c.get("b").is_none());
        assert_eq!(c.get("a").as_deref(), Some(&1));
        assert_eq!(c.get("c").as_deref(), Some(&3));
        c.put("huge".into(), 11, Arc::new(4)); // over the whole budget: not kept
        assert!(c.get("huge").is_none());
        assert_eq!(c.used, 8);
    }
}
