//! The stylesheet and the script, embedded in the binary and served under names that carry a hash of their
//! content, so browsers may keep them forever and still fetch a new version the moment it changes.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const CSS: &str = include_str!("../../assets/tocsin.css");
const JS: &str = include_str!("../../assets/tocsin.js");

struct Asset {
    url: String,
    body: &'static str,
    content_type: &'static str,
}

fn named(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        url: format!("/assets/{stem}.{hash}.{ext}"),
        body,
        content_type,
    }
}

fn assets() -> &'static [Asset; 2] {
    static ASSETS: OnceLock<[Asset; 2]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            named("tocsin", "css", CSS, "text/css; charset=utf-8"),
            named("tocsin", "js", JS, "text/javascript; charset=utf-8"),
        ]
    })
}

pub fn css_url() -> &'static str {
    &assets()[0].url
}

pub fn js_url() -> &'static str {
    &assets()[1].url
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = assets()
        .iter()
        .find(|a| a.url.strip_prefix("/assets/") == Some(file.as_str()))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut resp = asset.body.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
