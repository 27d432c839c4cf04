//! The connection's side of a streamed request body (see [`crate::request_body`]): the
//! handler starts on the pool when the head is in; the body is decoded into the pipe to it
//! only while the pipe has room, so a full pipe stops the reading (the transport's
//! `wants_read` turns false once a little input is buffered, and TCP's receive window
//! closes); the handler's reader wakes the connection when it has room again.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::{HttpConnection, Phase};
use crate::access_log::{AccessEntry, AccessFields};
use crate::blocking::{Completion, Job, Work, WorkResult};
use crate::body::BodyLimits;
use crate::dispatch::{origin_form, owned_request, Pending, ReplyInfo};
use crate::error::RequestError;
use crate::handler::http_method;
use crate::request::{Method, RequestHead, Version};
use crate::request_body::BodySender;
use crate::router::{Lookup, Route};
use crate::worker::HttpWorker;

impl HttpConnection {
    /// For a request with a body on a streaming route (head in `self.head_buf`): starts
    /// its handler on the pool with the reading end of a pipe. `None`: not a streaming
    /// route (the body is read whole). `Some(Err(()))`: the pool is full; a `503` is
    /// written and the connection closes.
    pub(super) fn start_streamed_body(
        &mut self,
        ctx: &mut HttpWorker,
        head: &RequestHead,
        now: Instant,
    ) -> Option<Result<(BodySender, Pending), ()>> {
        let service = Arc::clone(ctx.service());
        let target = origin_form(self.head_buf.get(head.target.clone()).unwrap_or_default());
        let path_end = target
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(target.len());
        let path = target.get(..path_end).unwrap_or_default();
        let method = http_method(head.method);
        let (handler, pattern) = match service.router().lookup(&method, path) {
            Lookup::Found(Route::Streaming { handler }, pattern) => (handler, pattern),
            _ => return None,
        };
        let params = if pattern.is_literal() {
            Vec::new()
        } else {
            pattern.captures(path).unwrap_or_default()
        };
        let head_only = head.method == Method::Head;
        let keep_alive = head.keep_alive && !self.shutting_down;
        let mut pending = Pending::new(keep_alive, head.version == Version::Http10, head_only);
        if ctx.access.is_some() {
            let fields = AccessFields::new(self.peer, &self.head_buf, head_only);
            pending.access = Some(Box::new(AccessEntry::new(&fields)));
        }
        let req = owned_request(method, head, &self.head_buf, &[], params);
        let conn_id = self.id;
        let queue = ctx.completion_queue();
        let (sender, reader) = BodySender::pipe(Box::new(move || {
            queue.push(Completion::new(conn_id, WorkResult::BodyRoom));
        }));
        let work = Work::Streaming(Arc::clone(handler), req, reader);
        if ctx
            .submit(|reply| Job {
                conn_id,
                reply,
                work,
            })
            .is_ok()
        {
            return Some(Ok((sender, pending)));
        }
        ctx.pool_full(now);
        let info = ReplyInfo {
            conn_id,
            now,
            keep_alive: false,
            http10: pending.http10,
            head_only,
        };
        self.start_output(now);
        self.answer(ctx, pending.access.take(), now, |out, ctx| {
            crate::dispatch::answer_error(out, ctx, 503, info)
        });
        // The body stays unread: close with a lingering close.
        self.must_linger = true;
        Some(Err(()))
    }

    /// Decodes buffered input into the pipe while it has room (`phase` is the
    /// `BodyStream` taken out of `self.phase`); returns whether the request loop may go on.
    pub(super) fn feed_streamed_body(
        &mut self,
        ctx: &mut HttpWorker,
        phase: Phase,
        now: Instant,
    ) -> bool {
        let Phase::BodyStream {
            mut decoder,
            sender,
            pending,
            mut last_progress,
            paused,
        } = phase
        else {
            self.phase = phase;
            return false;
        };
        if paused {
            // The handler made room (or the client sent more): waiting on the client
            // again, with a fresh read deadline.
            last_progress = now;
        }
        let cfg = ctx.service().config();
        // The handler bounds a streamed body; chunk extensions and trailers stay bounded.
        let limits = BodyLimits {
            max_body: usize::MAX,
            max_chunk_ext: cfg.max_chunk_ext_bytes,
            max_trailer: cfg.max_trailer_bytes,
        };
        loop {
            let avail = self.input.get(self.in_start..).unwrap_or_default();
            let room = sender.room();
            if room == 0 {
                self.phase = Phase::BodyStream {
                    decoder,
                    sender,
                    pending,
                    last_progress,
                    paused: true,
                };
                return false;
            }
            let feed = avail.get(..avail.len().min(room)).unwrap_or_default();
            let mut data = Vec::new();
            match decoder.decode(feed, &mut data, &limits) {
                Err(e) => {
                    sender.fail(io::ErrorKind::InvalidData);
                    self.fail(ctx, e, super::RefusedHead::Buffered, now);
                    return false;
                }
                Ok((consumed, done)) => {
                    self.in_start += consumed;
                    if consumed > 0 {
                        last_progress = now;
                    }
                    sender.push(data);
                    if done {
                        sender.finish();
                        self.phase = Phase::Waiting(pending);
                        return false;
                    }
                    if self.in_start < self.input.len() {
                        // Cut short by the pipe's room: try again.
                        continue;
                    }
                    if self.peer_eof {
                        sender.fail(io::ErrorKind::UnexpectedEof);
                        self.phase = Phase::Closing;
                        return true;
                    }
                    self.phase = Phase::BodyStream {
                        decoder,
                        sender,
                        pending,
                        last_progress,
                        paused: false,
                    };
                    return false;
                }
            }
        }
    }

    /// A completion while the body is still streaming: room in the pipe (the caller then
    /// reads on), or the handler's answer before the body's end (sent with
    /// `Connection: close`; the rest of the body is not read).
    pub(super) fn streamed_body_completion(
        &mut self,
        ctx: &mut HttpWorker,
        phase: Phase,
        result: WorkResult,
        now: Instant,
    ) {
        match result {
            WorkResult::BodyRoom => self.phase = phase,
            WorkResult::Handler(result) => {
                let Phase::BodyStream {
                    mut pending,
                    sender,
                    ..
                } = phase
                else {
                    self.phase = phase;
                    return;
                };
                // Nobody reads the pipe any more.
                drop(sender);
                let resp = match result {
                    Ok(resp) => resp,
                    Err(panic) => ctx.handler_panicked(&panic, now),
                };
                pending.keep_alive = false;
                self.must_linger = true;
                let info = self.reply_info(&pending, now);
                self.answer(ctx, pending.access.take(), now, |out, ctx| {
                    crate::dispatch::answer_user(out, ctx, resp, info)
                });
            }
            _ => self.phase = phase,
        }
    }

    /// The streamed body cannot complete (`err`): tells the handler (`kind`), answers the
    /// client with `err`'s status and closes.
    pub(super) fn fail_streamed_body(
        &mut self,
        ctx: &mut HttpWorker,
        kind: io::ErrorKind,
        err: RequestError,
        now: Instant,
    ) {
        if let Phase::BodyStream { sender, .. } = std::mem::replace(&mut self.phase, Phase::Closing)
        {
            sender.fail(kind);
        }
        self.fail(ctx, err, super::RefusedHead::Buffered, now);
    }
}
