//! What user handlers see and return: the owned [`Request`] (method, path, query, path
//! parameters, header fields, whole body), the [`Response`] (status, header fields, body),
//! the [`Handler`] trait and [`IntoResponse`], with conversions to and from the `http`
//! crate's types so code written for hyper or axum ports with little change.
//!
//! A handler's request body is whole, up to `max-body-bytes` (a
//! [`crate::request_body::StreamingHandler`] reads it as a stream instead). The response
//! body is a [`Body`]: bytes, a shared buffer, a file or a streaming producer
//! (see [`crate::response_body`]).

use std::path::PathBuf;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, StatusCode};

use crate::response_body::{Body, BodyStream};

/// An owned request handed to a user handler (inline on the worker, or on the pool).
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    target: String,
    path_end: usize,
    params: Vec<(String, String)>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    /// A request for `method` and `target` (origin-form: path, optionally `?query`), with
    /// no header fields, no parameters and an empty body.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        let target = target.into();
        let path_end = target.find(['?', '#']).unwrap_or(target.len());
        Self {
            method,
            target,
            path_end,
            params: Vec::new(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the path parameters (the router does this; tests of handlers may too).
    pub fn with_params(mut self, params: Vec<(String, String)>) -> Self {
        self.params = params;
        self
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request-target as received (origin-form: path and query).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path, still percent-encoded (use [`Request::param`] for decoded parts).
    pub fn path(&self) -> &str {
        self.target.get(..self.path_end).unwrap_or_default()
    }

    /// The query (after `?`, without it; not decoded), if the target has one.
    pub fn query(&self) -> Option<&str> {
        let rest = self.target.get(self.path_end..)?;
        let q = rest.strip_prefix('?')?;
        Some(q.split('#').next().unwrap_or_default())
    }

    /// The value of path parameter `name` (`{name}` in the route's pattern),
    /// percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All path parameters in pattern order, percent-decoded.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header field `name` (case-insensitive), as bytes.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(HeaderValue::as_bytes)
    }

    /// The decoded body (chunked framing removed).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out of the request.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Moves the body out, leaving it empty.
    pub(crate) fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }
}

/// The request method as the `http` crate's [`Method`] (no allocation).
pub fn http_method(m: crate::request::Method) -> Method {
    use crate::request::Method as M;
    match m {
        M::Get => Method::GET,
        M::Head => Method::HEAD,
        M::Post => Method::POST,
        M::Put => Method::PUT,
        M::Delete => Method::DELETE,
        M::Connect => Method::CONNECT,
        M::Options => Method::OPTIONS,
        M::Trace => Method::TRACE,
        M::Patch => Method::PATCH,
    }
}

impl From<http::Request<Vec<u8>>> for Request {
    fn from(r: http::Request<Vec<u8>>) -> Self {
        let (parts, body) = r.into_parts();
        let target = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
        let mut req = Request::new(parts.method, target).with_body(body);
        req.headers = parts.headers;
        req
    }
}

impl TryFrom<Request> for http::Request<Vec<u8>> {
    type Error = http::Error;

    fn try_from(r: Request) -> Result<Self, Self::Error> {
        let mut b = http::Request::builder().method(r.method).uri(r.target);
        if let Some(h) = b.headers_mut() {
            *h = r.headers;
        }
        b.body(r.body)
    }
}

/// A response produced by a user handler; the server adds `Server`, `Date`,
/// `Content-Length` (or `Transfer-Encoding: chunked` for a stream of unknown length) and
/// `Connection`.
#[derive(Debug, PartialEq)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

impl Default for Response {
    fn default() -> Self {
        Self::new(StatusCode::OK)
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Body::default(),
        }
    }

    /// `200 OK` with `body` as `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Vec<u8>>) -> Self {
        Self::bytes("text/plain; charset=utf-8", body)
    }

    /// `200 OK` with `body` as `text/html; charset=utf-8`.
    pub fn html(body: impl Into<Vec<u8>>) -> Self {
        Self::bytes("text/html; charset=utf-8", body)
    }

    /// `200 OK` with already serialised JSON as `application/json`.
    pub fn json_bytes(body: impl Into<Vec<u8>>) -> Self {
        Self::bytes("application/json", body)
    }

    /// `200 OK` with `body` and `content_type`.
    pub fn bytes(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        let mut r = Self::new(StatusCode::OK);
        r.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        r.body = Body::Bytes(body.into());
        r
    }

    /// `200 OK` with a shared buffer as the body (no copy: a [`Bytes`]; an `Arc<[u8]>` or
    /// any other owner of bytes through `Bytes::from_owner`), e.g. one rendered page served
    /// to many requests.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use boomerang_http::response_body::Bytes;
    /// use boomerang_http::Response;
    ///
    /// let page: Arc<[u8]> = Arc::from(&b"<h1>cached</h1>"[..]);
    /// let r = Response::shared("text/html; charset=utf-8", Bytes::from_owner(page.clone()));
    /// assert_eq!(r.body(), &page[..]);
    /// let r = Response::shared("text/plain", Bytes::from_static(b"static"));
    /// assert_eq!(r.body(), b"static");
    /// ```
    pub fn shared(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::OK)
            .with_header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .with_body(Body::Shared(body.into()))
    }

    /// `200 OK` with the file at `path` as the body, `Content-Type` by its extension. The
    /// file is opened and read on the blocking pool in chunks as the client reads (small
    /// files are kept in the file cache), so an inline handler may return it. A missing
    /// file answers `404`, one not readable `403`.
    ///
    /// ```
    /// use boomerang_http::response_body::Body;
    /// use boomerang_http::Response;
    ///
    /// let r = Response::file("public/report.pdf");
    /// assert_eq!(r.content_type(), Some("application/pdf"));
    /// assert!(matches!(r.payload(), Body::File(_)));
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let ct = crate::static_files::content_type_for(&path);
        Self::new(StatusCode::OK)
            .with_header(CONTENT_TYPE, HeaderValue::from_static(ct))
            .with_body(Body::File(path))
    }

    /// `200 OK` with a streamed body (see [`BodyStream`]): its producer runs on the
    /// blocking pool and is asked for the next piece only when the send side has room.
    ///
    /// ```
    /// use boomerang_http::response_body::{BodyStream, Bytes};
    /// use boomerang_http::Response;
    ///
    /// let lines = (1..=3).map(|i| Bytes::from(format!("line {i}\n")));
    /// let r = Response::stream("text/plain", BodyStream::from_pieces(lines));
    /// assert_eq!(r.into_payload().collect().unwrap(), b"line 1\nline 2\nline 3\n");
    /// ```
    pub fn stream(content_type: &'static str, body: BodyStream) -> Self {
        Self::new(StatusCode::OK)
            .with_header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .with_body(Body::Stream(body))
    }

    /// Replaces the body (header fields, e.g. `Content-Type`, stay).
    ///
    /// ```
    /// use boomerang_http::{Response, response_body::Bytes};
    /// let r = Response::text("old").with_body(Bytes::from_static(b"new"));
    /// assert_eq!(r.body(), b"new");
    /// ```
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a header field. `Content-Length`, `Transfer-Encoding`, `Connection`, `Date` and
    /// `Server` are the server's and are not sent.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The header fields, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The bytes of an in-memory body (owned or shared); empty for a file or a stream
    /// body (see [`Response::payload`]).
    pub fn body(&self) -> &[u8] {
        self.body.in_memory().unwrap_or_default()
    }

    /// The body, whatever its kind.
    ///
    /// ```
    /// use boomerang_http::{Response, response_body::Body};
    /// assert_eq!(Response::text("x").payload(), &Body::from(b"x".to_vec()));
    /// ```
    pub fn payload(&self) -> &Body {
        &self.body
    }

    /// Takes the body out of the response.
    ///
    /// ```
    /// let body = boomerang_http::Response::text("x").into_payload();
    /// assert_eq!(body.collect().unwrap(), b"x");
    /// ```
    pub fn into_payload(self) -> Body {
        self.body
    }

    /// Splits into the status and header fields, and the body.
    pub(crate) fn into_head_and_body(self) -> (Response, Body) {
        let Response {
            status,
            headers,
            body,
        } = self;
        (
            Response {
                status,
                headers,
                body: Body::default(),
            },
            body,
        )
    }

    /// The `Content-Type` value, if set and visible ASCII.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(CONTENT_TYPE)?.to_str().ok()
    }
}

impl From<http::Response<Vec<u8>>> for Response {
    fn from(r: http::Response<Vec<u8>>) -> Self {
        let (parts, body) = r.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: Body::Bytes(body),
        }
    }
}

impl From<http::Response<Body>> for Response {
    fn from(r: http::Response<Body>) -> Self {
        let (parts, body) = r.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl From<Response> for http::Response<Body> {
    fn from(r: Response) -> Self {
        let mut out = http::Response::new(r.body);
        *out.status_mut() = r.status;
        *out.headers_mut() = r.headers;
        out
    }
}

/// The response with its body in memory: a file or stream body is read to its end here,
/// blocking (see [`Body::collect`]); one that fails to read ends where it failed.
impl From<Response> for http::Response<Vec<u8>> {
    fn from(r: Response) -> Self {
        let body = match r.body {
            Body::Bytes(v) => v,
            other => other.collect().unwrap_or_default(),
        };
        let mut out = http::Response::new(body);
        *out.status_mut() = r.status;
        *out.headers_mut() = r.headers;
        out
    }
}

/// Turns a handler's return value into a [`Response`].
///
/// Implemented for [`Response`], `http::Response<Vec<u8>>`, [`StatusCode`] (empty body),
/// `&'static str` and `String` (`200` text), `(StatusCode, T)`, [`HttpError`], and
/// `Result<T, E>` where both sides convert: an error type picks its own status by
/// implementing this trait.
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for http::Response<Vec<u8>> {
    fn into_response(self) -> Response {
        self.into()
    }
}

impl IntoResponse for http::Response<Body> {
    fn into_response(self) -> Response {
        self.into()
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// An error with a status and a short text for the client, e.g. `HttpError::new(404,
/// "no such user")`; returned as `Err` from a handler it becomes that response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status sent.
    pub status: StatusCode,
    /// The text body sent (a newline is added).
    pub message: String,
}

impl HttpError {
    /// An error answered with `status` (a code outside 100..=999 becomes 500) and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
        }
    }

    /// `400 Bad Request` with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// `404 Not Found` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut body = self.message.into_bytes();
        body.push(b'\n');
        Response::text(body).with_status(self.status)
    }
}

/// A request handler. Closures `Fn(&Request) -> R` with `R: IntoResponse` are handlers.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `req`. Runs on a worker (inline routes: must not block)
    /// or on the blocking pool (blocking routes).
    fn handle(&self, req: &Request) -> Response;
}

impl<F, R> Handler for F
where
    F: Fn(&Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn handle(&self, req: &Request) -> Response {
        self(req).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_query_and_params() {
        let r = Request::new(Method::GET, "/a%20b/c?x=1&y#frag")
            .with_params(vec![("id".into(), "7".into())]);
        assert_eq!(r.path(), "/a%20b/c");
        assert_eq!(r.query(), Some("x=1&y"));
        assert_eq!(r.param("id"), Some("7"));
        assert_eq!(r.param("nope"), None);
        assert_eq!(Request::new(Method::GET, "/").query(), None);
    }

    #[test]
    fn http_crate_round_trips() {
        let h = http::Request::builder()
            .method(Method::POST)
            .uri("/u/1?q=2")
            .header("x-a", "b")
            .body(b"hi".to_vec())
            .unwrap();
        let r = Request::from(h);
        assert_eq!(
            (r.method(), r.path(), r.query()),
            (&Method::POST, "/u/1", Some("q=2"))
        );
        assert_eq!(r.header("X-A"), Some(&b"b"[..]));
        let back = http::Request::try_from(r).unwrap();
        assert_eq!(back.uri(), "/u/1?q=2");
        assert_eq!(back.body(), b"hi");

        let resp = Response::json_bytes("{}").with_status(StatusCode::CREATED);
        let h: http::Response<Vec<u8>> = Response::json_bytes("{}")
            .with_status(StatusCode::CREATED)
            .into();
        assert_eq!(h.status(), StatusCode::CREATED);
        assert_eq!(h.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(Response::from(h), resp);
        let streamed = Response::stream("text/plain", BodyStream::from_pieces(["a", "b"]));
        let h: http::Response<Vec<u8>> = streamed.into();
        assert_eq!(h.body(), b"ab");
        let h: http::Response<Body> = Response::shared("text/plain", "s").into();
        assert_eq!(Response::from(h).body(), b"s");
    }

    #[test]
    fn results_and_errors_become_responses() {
        let ok: Result<&'static str, HttpError> = Ok("fine");
        assert_eq!(ok.into_response().status(), StatusCode::OK);
        let err: Result<&'static str, HttpError> = Err(HttpError::not_found("no user 7"));
        let r = err.into_response();
        assert_eq!(
            (r.status(), r.body()),
            (StatusCode::NOT_FOUND, &b"no user 7\n"[..])
        );
        assert_eq!(
            HttpError::new(17, "x").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let t = (StatusCode::ACCEPTED, "queued".to_string()).into_response();
        assert_eq!(
            (t.status(), t.content_type()),
            (StatusCode::ACCEPTED, Some("text/plain; charset=utf-8"))
        );
    }
}
