//! Writing a handler's [`Response`]: the head with the server's own framing fields, then
//! the body by its kind — owned bytes copied, a large shared buffer queued by reference, a
//! stream handed to the pool piece by piece, a file answered from the file cache or opened
//! on the pool (see [`crate::response_body`]).

use std::io;
use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::HeaderValue;

use super::{Next, Pending, ReplyInfo, Shared, SHARE_BODY_ABOVE};
use crate::blocking::{Job, Work};
use crate::file_cache::CachedFile;
use crate::response::{write_head, Framing, Head};
use crate::response_body::{file_cache_key, Body, BodySource, FileJob, FileStart, Framed};
use crate::router::Response;
use crate::worker::HttpWorker;

/// Header fields of a user response the server writes itself (framing, `Date`, `Server`).
fn reserved(name: &http::HeaderName) -> bool {
    use http::header::{CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING};
    [
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        CONNECTION,
        DATE,
        SERVER,
        CONTENT_TYPE,
    ]
    .contains(name)
}

/// Statuses whose responses carry no body (RFC 9110 §15.2, §15.3.5, §15.4.5).
fn bodiless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// Writes the head of `resp` (its status and fields) with `framing`.
fn write_user_head(
    out: &mut Vec<u8>,
    ctx: &HttpWorker,
    resp: &Response,
    framing: Framing,
    keep_alive: bool,
    http10: bool,
) {
    let extra: Vec<(&str, &[u8])> = resp
        .headers()
        .iter()
        .filter(|(n, _)| !reserved(n))
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let h = Head {
        status: resp.status().as_u16(),
        content_type: resp.content_type(),
        framing,
        keep_alive,
        http10,
    };
    write_head(out, &h, &ctx.date, &extra);
}

fn done(status: u16, keep_alive: bool, shared: Option<Shared>) -> Next {
    Next::Done {
        status,
        keep_alive,
        wrote: true,
        shared,
    }
}

/// Appends `data` to `out`, or (large) returns it to be queued by reference.
fn copy_or_share(out: &mut Vec<u8>, data: bytes::Bytes) -> Option<Shared> {
    if data.len() > SHARE_BODY_ABOVE {
        Some(Shared::Bytes(data))
    } else {
        out.extend_from_slice(&data);
        None
    }
}

/// Writes a handler's response (or starts it: a stream or a file body continues through
/// the pool).
pub(crate) fn answer_user(
    out: &mut Vec<u8>,
    ctx: &mut HttpWorker,
    resp: Response,
    info: ReplyInfo,
) -> Next {
    let ReplyInfo {
        keep_alive,
        http10,
        head_only,
        ..
    } = info;
    let status = resp.status().as_u16();
    let (mut head, body) = resp.into_head_and_body();
    if bodiless(status) {
        write_user_head(out, ctx, &head, Framing::None, keep_alive, http10);
        return done(status, keep_alive, None);
    }
    match body {
        Body::Bytes(v) => {
            write_user_head(
                out,
                ctx,
                &head,
                Framing::Length(v.len() as u64),
                keep_alive,
                http10,
            );
            if !head_only {
                out.extend_from_slice(&v);
            }
            done(status, keep_alive, None)
        }
        Body::Shared(b) => {
            write_user_head(
                out,
                ctx,
                &head,
                Framing::Length(b.len() as u64),
                keep_alive,
                http10,
            );
            let shared = if head_only {
                None
            } else {
                copy_or_share(out, b)
            };
            done(status, keep_alive, shared)
        }
        Body::Stream(s) => {
            let (framing, framed, keep_alive) = match s.length() {
                Some(n) => (Framing::Length(n), Framed::Raw, keep_alive),
                // An HTTP/1.0 client knows no chunked coding: the close ends the body.
                None if http10 => (Framing::None, Framed::Raw, false),
                None => (Framing::Chunked, Framed::Chunked, keep_alive),
            };
            write_user_head(out, ctx, &head, framing, keep_alive, http10);
            if head_only || s.length() == Some(0) {
                return done(status, keep_alive, None);
            }
            Next::Stream {
                status,
                keep_alive,
                source: BodySource::Producer {
                    stream: s,
                    framed,
                    sent: 0,
                },
            }
        }
        Body::File(path) => {
            if head.content_type().is_none() {
                let ct = crate::static_files::content_type_for(&path);
                head.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            let cache = ctx.service().file_cache().cloned();
            if let Some(file) = cache
                .as_ref()
                .and_then(|c| c.get(&file_cache_key(&path), info.now))
            {
                return answer_cached(out, ctx, &head, &file, info);
            }
            let job = FileJob {
                path,
                head_only,
                chunk: ctx.service().config().file_chunk_bytes,
                cache,
                now: info.now,
            };
            let conn_id = info.conn_id;
            match ctx.submit(|reply| Job {
                conn_id,
                reply,
                work: Work::File(job),
            }) {
                Ok(()) => {
                    let mut p = Pending::new(keep_alive, http10, head_only);
                    p.head = Some(Box::new(head));
                    Next::Wait(p)
                }
                Err(_) => {
                    ctx.pool_full(info.now);
                    answer_error(out, ctx, 503, info)
                }
            }
        }
    }
}

/// A handler's file body from the cache.
fn answer_cached(
    out: &mut Vec<u8>,
    ctx: &HttpWorker,
    head: &Response,
    file: &Arc<CachedFile>,
    info: ReplyInfo,
) -> Next {
    let status = head.status().as_u16();
    let len = file.body.len();
    write_user_head(
        out,
        ctx,
        head,
        Framing::Length(len as u64),
        info.keep_alive,
        info.http10,
    );
    if info.head_only {
        return done(status, info.keep_alive, None);
    }
    if len > SHARE_BODY_ABOVE {
        done(
            status,
            info.keep_alive,
            Some(Shared::Cached(Arc::clone(file), 0..len)),
        )
    } else {
        out.extend_from_slice(&file.body);
        done(status, info.keep_alive, None)
    }
}

/// A short text answer with `status` (the handler's head is dropped).
pub(crate) fn answer_error(
    out: &mut Vec<u8>,
    ctx: &HttpWorker,
    status: u16,
    info: ReplyInfo,
) -> Next {
    let text = crate::response::status_text(status);
    let text = text.as_bytes();
    let h = Head {
        status,
        content_type: Some("text/plain; charset=utf-8"),
        framing: Framing::Length(text.len() as u64),
        keep_alive: info.keep_alive,
        http10: info.http10,
    };
    write_head(out, &h, &ctx.date, &[]);
    if !info.head_only {
        out.extend_from_slice(text);
    }
    done(status, info.keep_alive, None)
}

/// Answers with a handler's file body once the pool opened it (`head`: the handler's
/// status and fields). A file that cannot be opened answers 404, 403 or 500 instead.
pub(crate) fn answer_file(
    out: &mut Vec<u8>,
    ctx: &HttpWorker,
    head: &Response,
    opened: io::Result<FileStart>,
    info: ReplyInfo,
) -> Next {
    match opened {
        Ok(FileStart::Cached(file)) => answer_cached(out, ctx, head, &file, info),
        Ok(FileStart::Read { len, first, rest }) => {
            let status = head.status().as_u16();
            write_user_head(
                out,
                ctx,
                head,
                Framing::Length(len),
                info.keep_alive,
                info.http10,
            );
            if info.head_only {
                return done(status, info.keep_alive, None);
            }
            match rest {
                Some(stream) => {
                    out.extend_from_slice(&first);
                    Next::Stream {
                        status,
                        keep_alive: info.keep_alive,
                        source: BodySource::File(stream),
                    }
                }
                None => {
                    let shared = copy_or_share(out, first);
                    done(status, info.keep_alive, shared)
                }
            }
        }
        Err(e) => {
            let status = match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404,
                io::ErrorKind::PermissionDenied | io::ErrorKind::IsADirectory => 403,
                _ => 500,
            };
            tracing::debug!(error = %e, status, "a handler's file body cannot be read");
            answer_error(out, ctx, status, info)
        }
    }
}
