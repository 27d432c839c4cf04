//! Routing one complete request to its response: built-in routes written in place
//! (no allocation on the plaintext path), user handlers inline or on the blocking pool,
//! and static files handed to the pool.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::access_log::{AccessEntry, AccessFields};
use crate::blocking::{Job, Work};
use crate::config::MAX_HEADER_SLOTS;
use crate::contain;
use crate::file_cache::CachedFile;
use crate::handler::http_method;
use crate::request::{BodyKind, Method, RequestHead, Version};
use crate::response::{write_chunk, write_head, write_last_chunk, Framing, Head};
use crate::response_body::BodySource;
use crate::router::{Lookup, Request, Response, Route, PLAINTEXT_BODY};
use crate::static_files::{cache_key, content_range, plan, Conditions, Plan, StaticRequest};
use crate::worker::HttpWorker;

mod user_reply;
pub(crate) use user_reply::{answer_error, answer_file, answer_user};

/// The pending response of a request waiting for the blocking pool: how to frame the
/// answer once the job completes.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) keep_alive: bool,
    pub(crate) http10: bool,
    pub(crate) head_only: bool,
    /// The access-log entry to complete with the answer (when the log is on).
    pub(crate) access: Option<Box<AccessEntry>>,
    /// A handler's status and header fields, while its file body is being opened.
    pub(crate) head: Option<Box<Response>>,
}

impl Pending {
    pub(crate) fn new(keep_alive: bool, http10: bool, head_only: bool) -> Self {
        Self {
            keep_alive,
            http10,
            head_only,
            access: None,
            head: None,
        }
    }
}

/// A body queued by reference after the bytes written so far.
#[derive(Debug)]
pub(crate) enum Shared {
    /// A range of a cached file's body.
    Cached(Arc<CachedFile>, Range<usize>),
    /// A handler's shared buffer (or a piece of a streamed body).
    Bytes(Bytes),
}

/// Outcome of dispatching one complete request.
pub(crate) enum Next {
    /// The response is in the output buffer.
    Done {
        status: u16,
        keep_alive: bool,
        wrote: bool,
        /// A body to queue after what was written, without copying.
        shared: Option<Shared>,
    },
    /// The response head is in the output buffer; the body comes piece by piece from
    /// `source` through the pool.
    Stream {
        status: u16,
        keep_alive: bool,
        source: BodySource,
    },
    /// A blocking job was submitted.
    Wait(Pending),
}

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    /// The connection's id (for blocking-pool completions).
    pub id: u64,
    /// A graceful stop is under way: answer with `Connection: close`.
    pub shutting_down: bool,
    /// The current time.
    pub now: Instant,
    /// The peer's address, if the transport told.
    pub peer: Option<std::net::SocketAddr>,
    /// Redirect every request to HTTPS on this port instead of routing it.
    pub redirect_https: Option<u16>,
}

/// Routes one complete request and writes its response (or submits a job); with the access
/// log on, logs the answer (or hands the entry to the pending job).
pub(crate) fn dispatch(
    out: &mut Vec<u8>,
    ctx: &mut HttpWorker,
    conn: ConnInfo,
    head: &RequestHead,
    head_bytes: &[u8],
    body: &[u8],
) -> Next {
    if ctx.access.is_none() {
        return route(out, ctx, conn, head, head_bytes, body);
    }
    let entry = AccessFields::new(conn.peer, head_bytes, head.method == Method::Head);
    let before = out.len();
    let mut next = route(out, ctx, conn, head, head_bytes, body);
    log_next(
        ctx,
        &entry,
        &mut next,
        out.get(before..).unwrap_or_default(),
    );
    next
}

/// Writes the access-log line of an answer whose head is at the start of `written`, or
/// hands the entry to the job it waits for.
pub(crate) fn log_next(
    ctx: &mut HttpWorker,
    entry: &AccessFields<'_>,
    next: &mut Next,
    written: &[u8],
) {
    match next {
        Next::Done { status, .. } | Next::Stream { status, .. } => {
            ctx.access_line(entry, *status, announced_length(written));
        }
        Next::Wait(p) => p.access = Some(Box::new(AccessEntry::new(entry))),
    }
}

/// The body length a response head announces: its `Content-Length`, 0 without one, `None`
/// for a chunked body.
fn announced_length(response: &[u8]) -> Option<u64> {
    for line in response.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix(b"Content-Length: ") {
            return std::str::from_utf8(v).ok()?.parse().ok();
        }
        if line.eq_ignore_ascii_case(b"Transfer-Encoding: chunked") {
            return None;
        }
    }
    Some(0)
}

/// Routes one complete request and writes its response (or submits a job).
fn route(
    out: &mut Vec<u8>,
    ctx: &mut HttpWorker,
    conn: ConnInfo,
    head: &RequestHead,
    head_bytes: &[u8],
    body: &[u8],
) -> Next {
    let ConnInfo {
        id: conn_id,
        shutting_down,
        now,
        ..
    } = conn;
    let keep_alive = head.keep_alive && !shutting_down;
    let http10 = head.version == Version::Http10;
    let head_only = head.method == Method::Head;
    let target = origin_form(head_bytes.get(head.target.clone()).unwrap_or_default());
    let service = Arc::clone(ctx.service());
    let simple = |out: &mut Vec<u8>,
                  ctx: &HttpWorker,
                  status: u16,
                  ct: &str,
                  payload: &[u8],
                  extra: &[(&str, &[u8])]| {
        let h = Head {
            status,
            content_type: Some(ct),
            framing: Framing::Length(payload.len() as u64),
            keep_alive,
            http10,
        };
        write_head(out, &h, &ctx.date, extra);
        if !head_only {
            out.extend_from_slice(payload);
        }
        Next::Done {
            status,
            keep_alive,
            wrote: true,
            shared: None,
        }
    };
    // A job for the blocking pool; a full pool answers 503 at once.
    let to_pool =
        |out: &mut Vec<u8>, ctx: &mut HttpWorker, work: Work| match ctx.submit(|reply| Job {
            conn_id,
            reply,
            work,
        }) {
            Ok(()) => Next::Wait(Pending::new(keep_alive, http10, head_only)),
            Err(_) => {
                ctx.pool_full(now);
                simple(
                    out,
                    ctx,
                    503,
                    "text/plain; charset=utf-8",
                    b"Service Unavailable\n",
                    &[],
                )
            }
        };
    if let Some(port) = conn.redirect_https {
        let status = if matches!(head.method, Method::Get | Method::Head) {
            301
        } else {
            308
        };
        let ct = "text/plain; charset=utf-8";
        return match https_location(head_bytes, target, port) {
            Some(location) => simple(
                out,
                ctx,
                status,
                ct,
                b"Moved to HTTPS\n",
                &[("Location", &location)],
            ),
            None => simple(
                out,
                ctx,
                400,
                ct,
                b"A redirect to HTTPS needs a Host header\n",
                &[],
            ),
        };
    }
    let path_end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    let path = target.get(..path_end).unwrap_or_default();
    let method = http_method(head.method);
    let static_info = ReplyInfo {
        conn_id,
        now,
        keep_alive,
        http10,
        head_only,
    };
    match service.router().lookup(&method, path) {
        Lookup::MethodNotAllowed(allow) => simple(
            out,
            ctx,
            405,
            "text/plain; charset=utf-8",
            b"Method Not Allowed\n",
            &[("Allow", allow.as_bytes())],
        ),
        Lookup::Found(Route::Plaintext, _) => {
            simple(out, ctx, 200, "text/plain", PLAINTEXT_BODY, &[])
        }
        Lookup::Found(Route::Echo, _) => {
            let framing = if head.body == BodyKind::Chunked {
                Framing::Chunked
            } else {
                Framing::Length(body.len() as u64)
            };
            let h = Head {
                status: 200,
                content_type: Some("application/octet-stream"),
                framing,
                keep_alive,
                http10,
            };
            write_head(out, &h, &ctx.date, &[]);
            if framing == Framing::Chunked {
                write_chunk(out, body);
                write_last_chunk(out);
            } else {
                out.extend_from_slice(body);
            }
            Next::Done {
                status: 200,
                keep_alive,
                wrote: true,
                shared: None,
            }
        }
        Lookup::Found(Route::Metrics, _) => {
            let mut text = std::mem::take(&mut ctx.scratch);
            text.clear();
            service.metrics().render_prometheus(&mut text);
            if let Some(cache) = service.file_cache() {
                cache.render_prometheus(&mut text);
            }
            if let Some(src) = service.router().metrics_source() {
                src.render_prometheus(&mut text);
            }
            if let Some(log) = service.access_log() {
                log.render_prometheus(&mut text);
            }
            let next = simple(
                out,
                ctx,
                200,
                "text/plain; version=0.0.4",
                text.as_bytes(),
                &[],
            );
            ctx.scratch = text;
            next
        }
        Lookup::Found(Route::Handler { handler, blocking }, pattern) => {
            let params = if pattern.is_literal() {
                Vec::new()
            } else {
                pattern.captures(path).unwrap_or_default()
            };
            let req = owned_request(method, head, head_bytes, body, params);
            if *blocking {
                to_pool(out, ctx, Work::Handler(Arc::clone(handler), req))
            } else {
                let resp = match contain::call(handler.as_ref(), &req) {
                    Ok(resp) => resp,
                    Err(panic) => ctx.handler_panicked(&panic, now),
                };
                answer_user(out, ctx, resp, static_info)
            }
        }
        Lookup::Found(Route::Streaming { handler }, pattern) => {
            // A request without a body (one with a body starts its handler when its head
            // is in, see `HttpConnection::start_streamed_body`): the handler reads an empty body.
            let params = if pattern.is_literal() {
                Vec::new()
            } else {
                pattern.captures(path).unwrap_or_default()
            };
            let req = owned_request(method, head, head_bytes, &[], params);
            let work = Work::Streaming(Arc::clone(handler), req, crate::request_body::empty_body());
            to_pool(out, ctx, work)
        }
        Lookup::Found(Route::Static { root }, pattern) => {
            let at = pattern.rest_offset(path).unwrap_or(path.len()).max(1);
            let mount = path.get(..at - 1).unwrap_or_default();
            let below = target.get(at - 1..).unwrap_or(b"/");
            serve_static(out, ctx, head, head_bytes, root, mount, below, static_info)
        }
        Lookup::NotFound => {
            let root = service.root().cloned();
            match root {
                Some(_) if !matches!(head.method, Method::Get | Method::Head) => simple(
                    out,
                    ctx,
                    405,
                    "text/plain; charset=utf-8",
                    b"Method Not Allowed\n",
                    &[("Allow", b"GET, HEAD")],
                ),
                Some(root) => {
                    serve_static(out, ctx, head, head_bytes, &root, b"", target, static_info)
                }
                None => simple(
                    out,
                    ctx,
                    404,
                    "text/plain; charset=utf-8",
                    b"Not Found\n",
                    &[],
                ),
            }
        }
    }
}

/// Facts of the request an answer needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyInfo {
    pub conn_id: u64,
    pub now: Instant,
    pub keep_alive: bool,
    pub http10: bool,
    pub head_only: bool,
}

/// Answers a GET/HEAD for a file under `root` (`target`: the request-target below the
/// mount `mount`) from the file cache, or hands it to the pool.
#[allow(clippy::too_many_arguments)]
fn serve_static(
    out: &mut Vec<u8>,
    ctx: &mut HttpWorker,
    head: &RequestHead,
    head_bytes: &[u8],
    root: &Arc<PathBuf>,
    mount: &[u8],
    target: &[u8],
    info: ReplyInfo,
) -> Next {
    let ReplyInfo {
        conn_id,
        now,
        keep_alive,
        http10,
        head_only,
    } = info;
    let service = Arc::clone(ctx.service());
    let key_buf;
    let key = if mount.is_empty() {
        cache_key(target)
    } else {
        key_buf = [mount, cache_key(target)].concat();
        key_buf.as_slice()
    };
    if let Some(file) = service.file_cache().and_then(|c| c.get(key, now)) {
        let slice = |r: &Option<std::ops::Range<usize>>| r.clone().and_then(|r| head_bytes.get(r));
        let cond = Conditions {
            if_none_match: slice(&head.if_none_match),
            if_modified_since: slice(&head.if_modified_since),
            range: slice(&head.range),
            if_range: slice(&head.if_range),
        };
        let (status, body) = write_cached(out, ctx, &file, &cond, keep_alive, http10, head_only);
        return Next::Done {
            status,
            keep_alive,
            wrote: true,
            shared: body.map(|r| Shared::Cached(Arc::clone(&file), r)),
        };
    }
    let field = |r: &Option<std::ops::Range<usize>>| {
        r.clone()
            .and_then(|r| head_bytes.get(r))
            .map(<[u8]>::to_vec)
    };
    let req = StaticRequest {
        root: Arc::clone(root),
        mount: mount.to_vec(),
        target: target.to_vec(),
        head_only,
        if_none_match: field(&head.if_none_match),
        if_modified_since: field(&head.if_modified_since),
        range: field(&head.range),
        if_range: field(&head.if_range),
        chunk: service.config().file_chunk_bytes,
        cache: service.file_cache().cloned(),
        now,
    };
    match ctx.submit(|reply| Job {
        conn_id,
        reply,
        work: Work::Static(req),
    }) {
        Ok(()) => Next::Wait(Pending::new(keep_alive, http10, head_only)),
        Err(_) => {
            ctx.pool_full(now);
            let text: &[u8] = b"Service Unavailable\n";
            let h = Head {
                status: 503,
                content_type: Some("text/plain; charset=utf-8"),
                framing: Framing::Length(text.len() as u64),
                keep_alive,
                http10,
            };
            write_head(out, &h, &ctx.date, &[]);
            if !head_only {
                out.extend_from_slice(text);
            }
            Next::Done {
                status: 503,
                keep_alive,
                wrote: true,
                shared: None,
            }
        }
    }
}

/// Builds the owned [`Request`] for a user handler by re-reading the head.
pub(crate) fn owned_request(
    method: http::Method,
    head: &RequestHead,
    head_bytes: &[u8],
    body: &[u8],
    params: Vec<(String, String)>,
) -> Request {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADER_SLOTS];
    let mut parsed = httparse::Request::new(&mut slots);
    let target = origin_form(head_bytes.get(head.target.clone()).unwrap_or_default());
    let mut req = Request::new(method, String::from_utf8_lossy(target).into_owned())
        .with_params(params)
        .with_body(body);
    if let Ok(httparse::Status::Complete(_)) = parsed.parse(head_bytes) {
        for h in parsed.headers.iter() {
            // The parser admitted these bytes already; a field the `http` crate refuses is
            // left out rather than failing the request.
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(h.name.as_bytes()),
                http::HeaderValue::from_bytes(h.value),
            ) {
                req = req.with_header(n, v);
            }
        }
    }
    req
}

/// Cached bodies larger than this are queued by reference instead of copied.
pub const SHARE_BODY_ABOVE: usize = 16 * 1024;

/// Answers a static-file request from the in-memory cache: writes the head (and a small
/// body) into `out`; returns the status and the body range to queue by reference.
fn write_cached(
    out: &mut Vec<u8>,
    ctx: &HttpWorker,
    file: &CachedFile,
    cond: &Conditions<'_>,
    keep_alive: bool,
    http10: bool,
    head_only: bool,
) -> (u16, Option<Range<usize>>) {
    let mut shared = None;
    let info = &file.info;
    // At most four extra fields; indices below are constants or bounded by that count.
    let mut extra: [(&str, &[u8]); 4] = [("", b""); 4];
    let mut n;
    let range_value: String;
    let (status, framing, content_type, body): (u16, Framing, Option<&str>, &[u8]) =
        match plan(info, cond) {
            Plan::NotModified => {
                extra[0] = ("ETag", info.etag.as_bytes());
                n = 1;
                if let Some(lm) = &info.last_modified {
                    extra[1] = ("Last-Modified", lm.as_bytes());
                    n = 2;
                }
                (304, Framing::None, None, &[])
            }
            Plan::Unsatisfiable => {
                range_value = format!("bytes */{}", info.len);
                extra[0] = ("Content-Range", range_value.as_bytes());
                n = 1;
                let text: &[u8] = b"Range Not Satisfiable\n";
                (
                    416,
                    Framing::Length(text.len() as u64),
                    Some("text/plain; charset=utf-8"),
                    text,
                )
            }
            Plan::Send {
                status,
                first,
                count,
            } => {
                extra[0] = ("ETag", info.etag.as_bytes());
                extra[1] = ("Accept-Ranges", b"bytes");
                n = 2;
                if let Some(lm) = &info.last_modified {
                    extra[n] = ("Last-Modified", lm.as_bytes());
                    n += 1;
                }
                if status == 206 {
                    range_value = content_range(first, count, info.len);
                    extra[n] = ("Content-Range", range_value.as_bytes());
                    n += 1;
                }
                let range = usize::try_from(first)
                    .ok()
                    .zip(usize::try_from(count).ok())
                    .map(|(f, c)| f..f.saturating_add(c))
                    .filter(|r| file.body.get(r.clone()).is_some())
                    .unwrap_or(0..0);
                if range.len() > SHARE_BODY_ABOVE {
                    shared = Some(range);
                    (status, Framing::Length(count), Some(info.content_type), &[])
                } else {
                    let part = file.body.get(range).unwrap_or_default();
                    (
                        status,
                        Framing::Length(count),
                        Some(info.content_type),
                        part,
                    )
                }
            }
        };
    let h = Head {
        status,
        content_type,
        framing,
        keep_alive,
        http10,
    };
    write_head(out, &h, &ctx.date, extra.get(..n).unwrap_or_default());
    if head_only {
        return (status, None);
    }
    out.extend_from_slice(body);
    (status, shared)
}

/// `https://host[:port]/target` for a request whose head is `head_bytes`: the host of its
/// `Host` field (without the port it names), `:port` unless 443, and its origin-form target
/// (`/` for `*`). `None` without a usable `Host` (absent, empty, or more than a host name,
/// IPv4 or bracketed IPv6 address and port).
fn https_location(head_bytes: &[u8], target: &[u8], port: u16) -> Option<Vec<u8>> {
    let host = head_bytes
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let (name, value) = l.split_at(colon);
            name.eq_ignore_ascii_case(b"host")
                .then(|| value.get(1..).unwrap_or_default().trim_ascii())
        })?;
    let name = match host.first() {
        Some(b'[') => host.get(..=host.iter().position(|&b| b == b']')?)?,
        _ => host.split(|&b| b == b':').next().unwrap_or_default(),
    };
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-.[]:".contains(b);
    if name.is_empty() || !name.iter().all(allowed) {
        return None;
    }
    let mut location = Vec::with_capacity(16 + name.len() + target.len());
    location.extend_from_slice(b"https://");
    location.extend_from_slice(name);
    if port != 443 {
        location.push(b':');
        location.extend_from_slice(itoa::Buffer::new().format(port).as_bytes());
    }
    match target.first() {
        Some(b'/') => location.extend_from_slice(target),
        _ => location.push(b'/'),
    }
    Some(location)
}

/// The path-and-query of a request-target: origin-form as is, absolute-form
/// (`http://host/path?q`, RFC 9112 §3.2.2, which a server MUST accept) without scheme and
/// authority (an empty path becomes `/`).
pub(crate) fn origin_form(target: &[u8]) -> &[u8] {
    let rest = if target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://") {
        &target[7..]
    } else if target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://") {
        &target[8..]
    } else {
        return target;
    };
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) if rest.get(i) == Some(&b'/') => rest.get(i..).unwrap_or(b"/"),
        _ => b"/",
    }
}

#[cfg(test)]
mod tests {
    use super::{https_location, origin_form};

    #[test]
    fn absolute_form_is_reduced_to_the_path() {
        assert_eq!(origin_form(b"/plaintext"), b"/plaintext");
        assert_eq!(origin_form(b"http://h:80/plaintext?x"), b"/plaintext?x");
        assert_eq!(origin_form(b"HTTPS://h"), b"/");
        assert_eq!(origin_form(b"http://h?q"), b"/");
        assert_eq!(origin_form(b"*"), b"*");
    }

    #[test]
    fn redirects_go_to_the_host_over_https() {
        let loc = |head: &[u8], target: &[u8], port| {
            https_location(head, target, port).map(|l| String::from_utf8(l).unwrap())
        };
        let get = b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n";
        assert_eq!(
            loc(get, b"/a?b=1", 443).as_deref(),
            Some("https://example.com/a?b=1")
        );
        assert_eq!(
            loc(get, b"/", 8443).as_deref(),
            Some("https://example.com:8443/")
        );
        let v6 = b"GET / HTTP/1.1\r\nhost:  [2001:db8::1]:80 \r\n\r\n";
        assert_eq!(
            loc(v6, b"*", 443).as_deref(),
            Some("https://[2001:db8::1]/")
        );
        let ip = b"GET / HTTP/1.1\r\nUser-Agent: x:y\r\nHOST: 198.18.0.1\r\n\r\n";
        assert_eq!(loc(ip, b"/x", 443).as_deref(), Some("https://198.18.0.1/x"));
        for bad in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: \r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        ] {
            assert_eq!(
                loc(bad, b"/", 443),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
