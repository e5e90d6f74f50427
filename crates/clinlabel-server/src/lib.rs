//! clinlabel's HTTP edge: the axum application over the store and the blob store.
//!
//! [`app`] builds the whole router from an [`AppState`], so tests drive the
//! real application with `tower::ServiceExt::oneshot`, and the binary serves
//! the same router. Routes are declared with `utoipa` annotations and
//! collected by `utoipa_axum`, so the OpenAPI document at
//! `/api/v1/openapi.json` is generated from the code and covers every route.
//!
//! Layers, outermost first: request id (`x-request-id`, generated when absent,
//! echoed on every response) → trace span (method, matched route, request id;
//! never the query string or bodies) → metrics → security headers → timeout →
//! body limit → routes.
//!
//! invariant: handlers hold no business rules; they extract, call the store
//! (which scopes and audits), and shape the response.
//! invariant: every error leaves as `{code, message, details?}` from the
//! registry in `clinlabel_domain::error`.

pub mod delivery;
pub mod error;
pub mod extract;
mod metrics;
mod routes;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use clinlabel_blob::BlobStore;
use clinlabel_crypto::Keyring;
use clinlabel_domain::ErrorCode;
use clinlabel_store::Db;
use clinlabel_store::auth::SessionPolicy;
use error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use metrics::Metrics;

/// Settings the HTTP layer needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub session_policy: SessionPolicy,
    /// Mark the session cookie `Secure` (serve behind TLS).
    pub secure_cookies: bool,
    /// Largest JSON body accepted.
    pub json_body_limit: usize,
    /// Requests taking longer are abandoned with `request_timeout`.
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session_policy: SessionPolicy::default(),
            secure_cookies: false,
            json_body_limit: 1 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub blobs: BlobStore,
    pub keyring: Arc<Keyring>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// The installation's code systems (bundled and imported), indexed on first use.
    pub terminology: Arc<clinlabel_terminology::Terminology>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "clinlabel API", description = "The clinical data-annotation platform's API. Errors are `{code, message, details?}`; codes are stable.", version = "1"),
    servers((url = "/api/v1")),
    components(schemas(error::ErrorBody, clinlabel_domain::ErrorCode)),
    tags((name = "auth", description = "Sign-in, sessions, API tokens, first-admin setup"),
         (name = "admin", description = "Organisations, users, audit trail"),
         (name = "tracks", description = "Specialist tracks and taskers' certifications"),
         (name = "projects", description = "NDA/DPA, project specifications, quotes and the rate card (lifecycle steps 1–2)"),
         (name = "tasks", description = "Task engine and QA pipeline: routing, gold, review tiers, rework, batches (steps 3, 5, 6)"),
         (name = "uploads", description = "Resumable uploads, files, dataset items and their content"),
         (name = "imaging", description = "The frame service: DICOM series layouts and decoded frames"),
         (name = "deliveries", description = "Certified delivery: build, QA certification, completion report, data room, audit export (step 7)"),
         (name = "terminology", description = "Code systems (ICD-10-CM, ICD-10-PCS and imported licensed systems): versions, type-ahead search, concepts and hierarchy"))
)]
struct ApiDoc;

/// The API routes and the OpenAPI document describing exactly them.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes::auth::router()).merge(routes::admin::router()).merge(routes::tracks::router()).merge(routes::projects::router()).merge(routes::tasks::router()).merge(routes::uploads::router()).merge(routes::imaging::router()).merge(routes::deliveries::router()).merge(routes::terminology::router()).merge(routes::text::router()).split_for_parts()
}

/// The OpenAPI document (also served at `/api/v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// Random request ids: 16 hex digits.
#[derive(Clone, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).ok()?;
        HeaderValue::from_str(&hex::encode(b)).ok().map(RequestId::new)
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc);
    let api = api
        .route("/openapi.json", axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }))
        .fallback(|| async { ApiError::code(ErrorCode::RouteNotFound) })
        .method_not_allowed_fallback(|| async { ApiError::code(ErrorCode::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(state.config.json_body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), timeout));

    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/.well-known/clinlabel-delivery-key", axum::routing::get(routes::deliveries::well_known_key))
        // Everything else is the web app (embedded; client-side routes fall back to index.html).
        .merge(clinlabel_web::router())
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(security_headers())
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
                let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
                // Only method, route pattern and id: no query strings, no ids
                // from paths beyond the pattern, no bodies.
                tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .with_state(state)
}

fn security_headers() -> tower::layer::util::Stack<
    SetResponseHeaderLayer<HeaderValue>,
    tower::layer::util::Stack<
        SetResponseHeaderLayer<HeaderValue>,
        tower::layer::util::Stack<
            SetResponseHeaderLayer<HeaderValue>,
            tower::layer::util::Stack<SetResponseHeaderLayer<HeaderValue>, tower::layer::util::Stack<SetResponseHeaderLayer<HeaderValue>, tower::layer::util::Identity>>,
        >,
    >,
> {
    let h = |name: HeaderName, value: &'static str| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    tower::ServiceBuilder::new()
        .layer(h(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
             media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .layer(h(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(h(header::X_FRAME_OPTIONS, "DENY"))
        .layer(h(header::REFERRER_POLICY, "no-referrer"))
        .layer(h(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"))
        .into_inner()
}

/// Abandons API requests that take longer than the configured timeout.
async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if routes::uploads::exempt_from_timeout(&req) || routes::deliveries::exempt_from_timeout(&req) {
        return next.run(req).await;
    }
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::code(ErrorCode::RequestTimeout).into_response(),
    }
}

/// Liveness and readiness: answers 200 when the database answers.
async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1 AS one").fetch_one(state.db.pool()).await {
        Ok(_) => axum::Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => ApiError::Internal { code: ErrorCode::Unavailable, log: format!("health check: {e}") }.into_response(),
    }
}

/// Resolves on SIGTERM or Ctrl-C: the signal for graceful shutdown.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Serves the application on a bound listener until SIGTERM/Ctrl-C, then
/// finishes the requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}
