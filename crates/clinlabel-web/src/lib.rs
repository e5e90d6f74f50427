//! The web app, embedded: `web/` built by `build.rs` (into `$OUT_DIR/dist`) and
//! served from the binary.
//!
//! - `/assets/*` (content-hashed names): `Cache-Control: public, max-age=31536000, immutable`;
//!   a missing asset is a 404, never the app (a stale tab must not get HTML for a script).
//! - any other GET/HEAD path that is not a file of the build: `index.html` with
//!   `Cache-Control: no-cache`, so client-side routes load the app and a new
//!   release is picked up on the next navigation.
//! - `/api/*` never reaches here from the server (the API router answers it);
//!   if it does, it is a 404, not the app.
//!
//! Every response carries a strong `ETag` (the file's SHA-256); `If-None-Match`
//! answers 304.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

// `#[derive(rust_embed::Embed)] #[folder = "<OUT_DIR>/dist"] struct Dist;`
include!(concat!(env!("OUT_DIR"), "/dist.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// A router answering every path with the web app (use it as the server's fallback).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().fallback(serve)
}

/// The handler behind [`router`].
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    if path == "api" || path.starts_with("api/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let is_asset = path.starts_with("assets/");
    let (name, cache) = match Dist::get(path) {
        Some(_) if !path.is_empty() && path != "index.html" => {
            (path, if is_asset { IMMUTABLE } else { NO_CACHE })
        }
        _ if is_asset => return StatusCode::NOT_FOUND.into_response(),
        _ => ("index.html", NO_CACHE),
    };
    let Some(file) = Dist::get(name) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the web app is missing from this build",
        )
            .into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let etag_value = HeaderValue::from_str(&etag).expect("hex is ASCII");
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, etag_value);
    let mime = if name == "index.html" {
        "text/html; charset=utf-8"
    } else {
        file.metadata.mimetype()
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(file.data.into_owned())
    };
    (StatusCode::OK, h, body).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = axum::http::Request::get(path);
        if let Some(t) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn text(r: Response) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn index_and_client_routes_serve_the_app_uncached() {
        for path in ["/", "/index.html", "/sign-in", "/admin/users/abc", "/setup"] {
            let r = get(path, None).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[header::CACHE_CONTROL], NO_CACHE, "{path}");
            assert!(
                r.headers()[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let body = text(r).await;
            assert!(body.contains("<div id=\"root\">"), "{path}");
        }
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable_and_missing_ones_are_404() {
        let index = text(get("/", None).await).await;
        let script = index
            .split("src=\"/assets/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("index.html loads a script from /assets/");
        let r = get(&format!("/assets/{script}"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CACHE_CONTROL], IMMUTABLE);
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(
            get(&format!("/assets/{script}"), Some(&etag))
                .await
                .status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            get("/assets/nope-123.js", None).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn api_paths_and_writes_are_not_the_app() {
        assert_eq!(
            get("/api/v2/anything", None).await.status(),
            StatusCode::NOT_FOUND
        );
        let r = router::<()>()
            .oneshot(
                axum::http::Request::post("/sign-in")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
