//! Where one load connection stands in its request–response exchange, the same for the
//! kernel-socket workers and the AF_XDP client.

use std::time::{Duration, Instant};

/// The step a load connection is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Connecting,
    /// Writing the request; this many bytes of it are out.
    Writing(usize),
    Reading,
    /// Response complete; waiting for the server to close (`--close` or `Connection: close`).
    Draining,
}

/// A connection's phase, when its current request started (latency is measured from here)
/// and when it times out.
pub(crate) struct Exchange {
    pub(crate) phase: Phase,
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
}

impl Exchange {
    /// A connection opened at `now`.
    pub(crate) fn connecting(now: Instant, timeout: Duration) -> Self {
        Self {
            phase: Phase::Connecting,
            started: now,
            deadline: now + timeout,
        }
    }

    /// A response is complete: the next request goes on this connection if `reuse`, else it
    /// waits for the server's close. Returns when the completed request started.
    pub(crate) fn answered(&mut self, reuse: bool, timeout: Duration) -> Instant {
        let started = self.started;
        let now = Instant::now();
        if reuse {
            self.phase = Phase::Writing(0);
            self.started = now;
        } else {
            self.phase = Phase::Draining;
        }
        self.deadline = now + timeout;
        started
    }
}

/// What response bytes did to an exchange ([`Exchange::receive`]).
pub(crate) enum Received {
    /// The response is not complete yet.
    More,
    /// A response is complete: its start, status and body length.
    Done {
        started: Instant,
        status: u16,
        body_len: u64,
    },
    /// Bytes after the response, or a response that does not parse: the connection goes.
    Protocol,
}

impl Exchange {
    /// Feeds response bytes to `reader`; on a complete response, moves on as
    /// [`Exchange::answered`] does (`reuse` unless the peer closed, `eof`).
    pub(crate) fn receive(
        &mut self,
        reader: &mut super::ResponseReader,
        data: &[u8],
        keep_alive_wanted: bool,
        eof: bool,
        timeout: Duration,
    ) -> Received {
        if self.phase == Phase::Draining {
            return Received::Protocol;
        }
        match reader.feed(data) {
            Ok(None) => Received::More,
            Ok(Some(done)) => {
                let reuse = done.keep_alive && keep_alive_wanted && !eof;
                Received::Done {
                    started: self.answered(reuse, timeout),
                    status: done.status,
                    body_len: done.body_len,
                }
            }
            Err(err) => {
                tracing::debug!(%err, "bad response");
                Received::Protocol
            }
        }
    }
}
