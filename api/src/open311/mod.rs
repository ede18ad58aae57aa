//! Open311 GeoReport v2 at `/open311/v2/`, so that existing civic apps can
//! list services, read requests and post new ones.
//!
//! The format is the path's extension: `.json`, or `.xml` — the spec's
//! default, also taken when there is none. Every answer is built once as a
//! [`render::Node`] and written in the format asked for; every refusal is an
//! [`Open311Error`], turned into the spec's error list in one place
//! ([`error_response`]). Categories are the services; a request's number is
//! its `service_request_id`; its ULID is the `token`.
//!
//! Public readers see what the public map sees: never the applicant's name or
//! phone, and the description only with an `api_key` whose holder may read it.

pub mod form;
pub mod render;
mod requests;

use axum::Router;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kontakt_workflow::DomainError;
use kontakt_workflow::model::{Category, DeadlineClass, RequestId};

pub use form::{Location, PostedRequest, parse_post};
use render::Node;
pub(crate) use requests::w3c;

use crate::state::AppState;

/// The answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/xml`, the spec's default.
    Xml,
    /// `application/json`.
    Json,
}

impl Format {
    /// The format a path asks for; XML unless it ends in `.json` (errors
    /// about an unknown extension are written in XML too).
    pub fn of_path(path: &str) -> Format {
        if path.ends_with(".json") { Format::Json } else { Format::Xml }
    }
}

/// Why an Open311 call was refused; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Open311Error {
    /// Missing or malformed input.
    #[error("{0}")]
    BadRequest(String),
    /// No usable `api_key`, or its holder may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The service, request or token does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The resource does not take this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Refused for the state things are in (a transition not allowed, a
    /// change by someone else, an idempotency key reused): the domain's CONFLICT
    /// and INVALID_TRANSITION.
    #[error("{0}")]
    Conflict(String),
    /// The body is over the server's limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The client's address is over its rate limit.
    #[error("{0}")]
    TooManyRequests(String),
    /// Something failed on the server; the text is logged, not sent.
    #[error("internal error")]
    Internal,
}

impl Open311Error {
    /// The HTTP status, which is also the error's `code`.
    pub fn status(&self) -> StatusCode {
        match self {
            Open311Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Open311Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Open311Error::NotFound(_) => StatusCode::NOT_FOUND,
            Open311Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Open311Error::Conflict(_) => StatusCode::CONFLICT,
            Open311Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Open311Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Open311Error::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<DomainError> for Open311Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(m) => Open311Error::BadRequest(m),
            DomainError::Forbidden(m) => Open311Error::Forbidden(m),
            DomainError::NotFound(m) => Open311Error::NotFound(m),
            e @ (DomainError::InvalidTransition { .. }
            | DomainError::NotDue(_)
            | DomainError::Conflict
            | DomainError::Superseded(_)) => Open311Error::Conflict(e.to_string()),
            DomainError::Store(e) => {
                tracing::error!(error = %e, "storage failure in Open311");
                Open311Error::Internal
            }
        }
    }
}

/// A successful answer: the XML root element's name and the document.
pub(crate) struct Answer {
    root: &'static str,
    node: Node,
}

/// Writes a node in `format` with status 200.
fn write(format: Format, root: &str, node: &Node, status: StatusCode) -> Response {
    match format {
        Format::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            render::to_json(node).to_string(),
        )
            .into_response(),
        Format::Xml => {
            (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], render::to_xml(root, node))
                .into_response()
        }
    }
}

/// The spec's error list: `[{"code": 400, "description": "…"}]` or
/// `<errors><error><code>400</code><description>…</description></error></errors>`.
pub fn error_response(format: Format, e: &Open311Error) -> Response {
    let status = e.status();
    let node = Node::List(
        "error",
        vec![Node::Obj(vec![
            ("code", Node::Int(i64::from(status.as_u16()))),
            ("description", Node::text(e.to_string())),
        ])],
    );
    write(format, "errors", &node, status)
}

fn respond(format: Format, result: Result<Answer, Open311Error>) -> Response {
    match result {
        Ok(a) => write(format, a.root, &a.node, StatusCode::OK),
        Err(e) => error_response(format, &e),
    }
}

/// The routes under `/open311`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/{file}", get(top_get).post(requests::post).fallback(wrong_method))
        .route("/v2/services/{file}", get(service_definition).fallback(wrong_method))
        .route("/v2/requests/{file}", get(requests::one).fallback(wrong_method))
        .route("/v2/tokens/{file}", get(token).fallback(wrong_method))
        .fallback(not_found)
}

/// Splits `name.ext` into the name and its format; no extension is XML.
pub(crate) fn split(file: &str) -> Result<(&str, Format), Open311Error> {
    match file.rsplit_once('.') {
        None => Ok((file, Format::Xml)),
        Some((name, "xml")) => Ok((name, Format::Xml)),
        Some((name, "json")) => Ok((name, Format::Json)),
        Some((_, ext)) => Err(Open311Error::BadRequest(format!("unknown format {ext:?}: use .xml or .json"))),
    }
}

/// A query string's parameters; each may be given once.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, Open311Error> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| Open311Error::BadRequest(format!("the query string is malformed: {e}")))?;
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(seen, _)| seen == k) {
                return Err(Open311Error::BadRequest(format!("{k} is given more than once")));
            }
        }
        Ok(Self(pairs))
    }

    /// A parameter's value, trimmed; absent when empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// `lang=en` asks for English names; Russian otherwise.
    pub(crate) fn english(&self) -> Result<bool, Open311Error> {
        match self.get("lang") {
            None | Some("ru") => Ok(false),
            Some("en") => Ok(true),
            Some(other) => Err(Open311Error::BadRequest(format!("lang {other:?} is not ru or en"))),
        }
    }
}

/// Runs store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Open311Error> + Send + 'static,
) -> Result<T, Open311Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "Open311 task failed");
        Err(Open311Error::Internal)
    })
}

/// The regulated window in words, for service descriptions and notices.
pub(crate) fn class_words(class: DeadlineClass, english: bool) -> &'static str {
    match (class, english) {
        (DeadlineClass::Emergency, false) => "аварийная заявка: срок исполнения 6 часов",
        (DeadlineClass::Short, false) => "срочная заявка: срок исполнения 24 часа",
        (DeadlineClass::Medium, false) => "заявка средней срочности: срок исполнения 72 часа",
        (DeadlineClass::Long, false) => "плановая заявка: срок исполнения 7 суток",
        (DeadlineClass::Emergency, true) => "emergency request: done within 6 hours",
        (DeadlineClass::Short, true) => "short request: done within 24 hours",
        (DeadlineClass::Medium, true) => "medium request: done within 72 hours",
        (DeadlineClass::Long, true) => "long request: done within 7 days",
    }
}

/// A category's name in the asked language.
pub(crate) fn category_name(c: &Category, english: bool) -> &str {
    if english { &c.name_en } else { &c.name_ru }
}

fn service_node(c: &Category, english: bool) -> Node {
    let words = class_words(c.deadline_class, english);
    Node::Obj(vec![
        ("service_code", Node::text(c.code.as_str())),
        ("service_name", Node::text(category_name(c, english))),
        ("description", Node::text(format!("{}. {}", c.group, capitalized(words)))),
        ("metadata", Node::Bool(false)),
        ("type", Node::text("realtime")),
        (
            "keywords",
            Node::text(format!("{}, {}, {}", c.group, c.deadline_class.as_str().to_lowercase(), c.code)),
        ),
        ("group", Node::text(c.group.clone())),
    ])
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

async fn top_get(
    State(app): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (name, format) = match split(&file) {
        Ok(x) => x,
        Err(e) => return error_response(Format::Xml, &e),
    };
    let result = match name {
        "services" => services(&app, query.as_deref()).await,
        "requests" => requests::list(&app, query.as_deref()).await,
        "discovery" => Ok(discovery(&headers)),
        other => Err(Open311Error::NotFound(format!("no resource {other:?} in GeoReport v2"))),
    };
    respond(format, result)
}

async fn services(app: &AppState, query: Option<&str>) -> Result<Answer, Open311Error> {
    let english = Params::parse(query)?.english()?;
    let k = app.kontakt.clone();
    let categories = blocking(move || Ok(k.categories()?)).await?;
    Ok(Answer {
        root: "services",
        node: Node::List("service", categories.iter().map(|c| service_node(c, english)).collect()),
    })
}

async fn service_definition(State(app): State<AppState>, Path(file): Path<String>) -> Response {
    let (code, format) = match split(&file) {
        Ok(x) => x,
        Err(e) => return error_response(Format::Xml, &e),
    };
    let (k, code) = (app.kontakt.clone(), code.to_string());
    let result = blocking(move || {
        let known = kontakt_workflow::model::Code::parse(&code).is_ok() && k.category(&code)?.is_some();
        if !known {
            return Err(Open311Error::NotFound(format!("no service {code:?}")));
        }
        Ok(Answer {
            root: "service_definition",
            node: Node::Obj(vec![
                ("service_code", Node::text(code)),
                ("attributes", Node::List("attribute", vec![])),
            ]),
        })
    })
    .await;
    respond(format, result)
}

async fn token(State(app): State<AppState>, Path(file): Path<String>) -> Response {
    let (token, format) = match split(&file) {
        Ok(x) => x,
        Err(e) => return error_response(Format::Xml, &e),
    };
    let (k, token) = (app.kontakt.clone(), token.to_string());
    let result = blocking(move || {
        let unknown = || Open311Error::NotFound(format!("no request with token {token:?}"));
        let id = RequestId::parse(&token).map_err(|_| unknown())?;
        let r = k.request(id)?.ok_or_else(unknown)?;
        Ok(Answer {
            root: "service_requests",
            node: Node::List(
                "request",
                vec![Node::Obj(vec![
                    ("service_request_id", Node::text(r.number.to_string())),
                    ("token", Node::text(r.id.to_string())),
                ])],
            ),
        })
    })
    .await;
    respond(format, result)
}

/// When this endpoint's contract last changed (the discovery document's `changeset`).
const CHANGESET: &str = "2026-03-01T00:00:00Z";

fn discovery(headers: &HeaderMap) -> Answer {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    Answer {
        root: "discovery",
        node: Node::Obj(vec![
            ("changeset", Node::text(CHANGESET)),
            ("contact", Node::text("The city Contact Center (Kontakt)")),
            ("key_service", Node::text("api_key is a Kontakt token issued by an administrator")),
            (
                "endpoints",
                Node::List(
                    "endpoint",
                    vec![Node::Obj(vec![
                        ("specification", Node::text("http://wiki.open311.org/GeoReport_v2")),
                        ("url", Node::text(format!("http://{host}/open311/v2"))),
                        ("changeset", Node::text(CHANGESET)),
                        ("type", Node::text("production")),
                        (
                            "formats",
                            Node::List(
                                "format",
                                vec![Node::text("text/xml"), Node::text("application/json")],
                            ),
                        ),
                    ])],
                ),
            ),
        ]),
    }
}

async fn wrong_method(OriginalUri(uri): OriginalUri, method: axum::http::Method) -> Response {
    let e = Open311Error::MethodNotAllowed(format!("{method} is not accepted on {}", uri.path()));
    error_response(Format::of_path(uri.path()), &e)
}

async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    let e = Open311Error::NotFound(format!("no GeoReport v2 resource at {}", uri.path()));
    error_response(Format::of_path(uri.path()), &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_picks_the_format_and_xml_is_the_default() {
        assert_eq!(split("services.json").unwrap(), ("services", Format::Json));
        assert_eq!(split("services.xml").unwrap(), ("services", Format::Xml));
        assert_eq!(split("services").unwrap(), ("services", Format::Xml));
        assert!(matches!(split("services.yaml"), Err(Open311Error::BadRequest(m)) if m.contains("yaml")));
    }

    #[test]
    fn errors_are_the_spec_list_in_both_formats() {
        let e = Open311Error::NotFound("no service \"x\"".into());
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let node = Node::List(
            "error",
            vec![Node::Obj(vec![("code", Node::Int(404)), ("description", Node::text(e.to_string()))])],
        );
        assert_eq!(
            render::to_json(&node),
            serde_json::json!([{ "code": 404, "description": "no service \"x\"" }])
        );
        let xml = String::from_utf8(render::to_xml("errors", &node)).unwrap();
        assert!(xml.contains("<errors><error><code>404</code><description>no service &quot;x&quot;</description></error></errors>"), "{xml}");
    }

    #[test]
    fn parameters_may_be_given_once() {
        assert!(Params::parse(Some("status=open&status=closed")).is_err());
        let p = Params::parse(Some("status=open&lang=en&empty=")).unwrap();
        assert_eq!(p.get("status"), Some("open"));
        assert_eq!(p.get("empty"), None);
        assert!(p.english().unwrap());
        assert!(Params::parse(Some("lang=fr")).unwrap().english().is_err());
    }
}
