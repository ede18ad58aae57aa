//! The web client at `/`: the built folder (`[ui] dir`) served as static
//! files, with `index.html` for any other path so the client's own routes
//! load on a reload. Paths under the API's prefixes never fall back to it: a
//! mistyped API call gets a 404, not a page. Without a build the server still
//! runs and says how to make one; the folder is looked at on each request, so
//! building it while the server runs is enough.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::services::{ServeDir, ServeFile};

use crate::state::AppState;

/// Path prefixes that belong to the API.
const API_PREFIXES: &[&str] = &[
    "/graphql",
    "/graphiql",
    "/healthz",
    "/readyz",
    "/metrics",
    "/callbacks",
    "/reports",
    "/public",
    "/open311",
];

fn is_api(path: &str) -> bool {
    API_PREFIXES
        .iter()
        .any(|p| path.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// The router's fallback: a file of the client, its `index.html`, or why there is none.
pub async fn serve(State(app): State<AppState>, request: Request) -> Response {
    if is_api(request.uri().path()) {
        return (StatusCode::NOT_FOUND, "no such API resource").into_response();
    }
    let index = app.ui_dir.join("index.html");
    if !tokio::fs::metadata(&index).await.is_ok_and(|m| m.is_file()) {
        let text = format!(
            "The web UI is not built: run `make ui` (it builds ui-client/dist), then reload.\n\
             Looked for {} (set [ui] dir or KONTAKT__UI__DIR to serve another folder).\n\
             The API is up: /graphql, /public/requests.geojson, /open311/v2/services.json.\n",
            index.display()
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text,
        )
            .into_response();
    }
    let mut files = ServeDir::new(&app.ui_dir).fallback(ServeFile::new(index));
    match files.try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) => {
            tracing::error!(error = %e, "serving the web client");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_api;

    #[test]
    fn api_prefixes_are_whole_segments() {
        assert!(is_api("/graphql"));
        assert!(is_api("/open311/v2/nothing.json"));
        assert!(is_api("/reports/x"));
        assert!(!is_api("/graphql-client"));
        assert!(!is_api("/"));
        assert!(!is_api("/map"));
    }
}
