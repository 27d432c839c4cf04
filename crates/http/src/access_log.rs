//! The access log (off by default; `--access-log FILE|-`): one line per request in
//! the combined log format nginx and Apache write —
//! `remote - - [03/Dec/2026:12:44:42 +0000] "GET /x HTTP/1.1" 200 13 "referer" "user-agent"`
//! — or, with `--access-log-format json`, one JSON object per line with the same fields:
//! `{"remote":"…","time":"2026-12-03T12:44:42Z","request":"…","status":200,"bytes":13,
//! "referer":null,"user_agent":"…"}`.
//!
//! Off the hot path: a worker formats lines into its own buffer ([`AccessBuffer`]) and hands
//! full buffers (and, once per timer tick, partial ones) to a background writer thread over a
//! bounded channel without waiting; the writer does the file I/O and flushes after every
//! buffer. If the writer falls behind and the channel is full, the worker drops that buffer
//! and counts its lines in `boomerang_http_access_log_dropped_total` instead of blocking.
//!
//! Times are UTC, at the resolution of the worker's cached `Date` (one second). `%b` is the
//! body length the response announced (0 for HEAD and bodiless statuses, `-` for a chunked
//! body). Requests refused before routing (400, 408, 413, 414, 431, …) are logged too, with
//! as much of their request line as arrived (at most [`REFUSED_REQUEST_LINE_MAX`] bytes); an
//! idle keep-alive connection that times out between requests is not a request and is not
//! logged.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// A buffer is handed to the writer once it holds this many bytes.
pub const ACCESS_BUFFER_BYTES: usize = 32 * 1024;
/// Buffers in flight between the workers and the writer before lines are dropped.
pub const ACCESS_QUEUE_BUFFERS: usize = 256;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogFormat {
    /// nginx's and Apache's `combined`.
    #[default]
    Combined,
    /// One JSON object per line (bytes outside printable ASCII as `\u00XX`).
    Json,
}

/// A buffer of lines and how many lines it holds.
type Batch = (Vec<u8>, usize);

/// The writer side, shared by all workers of a server.
#[derive(Debug)]
pub struct AccessLog {
    tx: Mutex<Option<Sender<Batch>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dropped: AtomicU64,
    written: std::sync::Arc<AtomicU64>,
    format: AccessLogFormat,
}

impl AccessLog {
    /// Opens `path` for appending (`-`: standard output) and starts the writer thread.
    pub fn open(path: &Path, format: AccessLogFormat) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?)
        };
        let (tx, rx) = crossbeam_channel::bounded(ACCESS_QUEUE_BUFFERS);
        let written = std::sync::Arc::new(AtomicU64::new(0));
        let count = written.clone();
        let thread = std::thread::Builder::new()
            .name("http-access-log".into())
            .spawn(move || write_loop(out, &rx, &count))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            dropped: AtomicU64::new(0),
            written,
            format,
        })
    }

    fn sender(&self) -> Option<Sender<Batch>> {
        self.tx.lock().ok()?.clone()
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Appends the writer's counters as Prometheus text.
    pub fn render_prometheus(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (name, help, v) in [
            (
                "boomerang_http_access_log_lines_total",
                "Access-log lines written.",
                self.written(),
            ),
            (
                "boomerang_http_access_log_dropped_total",
                "Access-log lines dropped because the writer fell behind.",
                self.dropped(),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
    }

    /// Stops taking buffers and waits until the writer has written what it holds. Workers
    /// hand over their last buffers when they are dropped, so call this after they ended.
    pub fn finish(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.finish();
    }
}

fn write_loop(mut out: Box<dyn Write + Send>, rx: &Receiver<Batch>, written: &AtomicU64) {
    let mut failed = false;
    for (buf, lines) in rx.iter() {
        let result = out.write_all(&buf).and_then(|()| out.flush());
        match result {
            Ok(()) => {
                written.fetch_add(lines as u64, Ordering::Relaxed);
            }
            Err(e) if !failed => {
                failed = true;
                tracing::error!(error = %e, "cannot write the access log; lines are lost");
            }
            Err(_) => {}
        }
    }
}

/// One worker's side: the line buffer and its link to the writer.
#[derive(Debug)]
pub struct AccessBuffer {
    tx: Option<Sender<Batch>>,
    log: std::sync::Arc<AccessLog>,
    buf: Vec<u8>,
    lines: usize,
}

/// What the log line of one request needs from it, borrowed from its head.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessFields<'a> {
    /// The peer's address, if the transport told.
    pub peer: Option<SocketAddr>,
    /// The request line (without CRLF).
    pub request_line: &'a [u8],
    /// `Referer`, if sent.
    pub referer: Option<&'a [u8]>,
    /// `User-Agent`, if sent.
    pub user_agent: Option<&'a [u8]>,
    /// HEAD: no body is sent whatever the length.
    pub head_only: bool,
}

impl<'a> AccessFields<'a> {
    /// The fields of a request whose (already parsed and accepted) head is `head_bytes`.
    /// Scans the header lines; allocates nothing.
    pub fn new(peer: Option<SocketAddr>, head_bytes: &'a [u8], head_only: bool) -> Self {
        let trim = |l: &'a [u8]| l.strip_suffix(b"\r").unwrap_or(l);
        let mut lines = head_bytes.split(|&b| b == b'\n');
        let request_line = trim(lines.next().unwrap_or_default());
        let (mut referer, mut user_agent) = (None, None);
        for line in lines.map(trim) {
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let (name, value) = (line.get(..colon).unwrap_or_default(), line.get(colon + 1..));
            let value = value.unwrap_or_default().trim_ascii();
            if referer.is_none() && name.eq_ignore_ascii_case(b"referer") {
                referer = Some(value);
            } else if user_agent.is_none() && name.eq_ignore_ascii_case(b"user-agent") {
                user_agent = Some(value);
            }
        }
        Self {
            peer,
            request_line,
            referer,
            user_agent,
            head_only,
        }
    }
}

/// At most this much of a refused request's first line goes into its log line.
pub const REFUSED_REQUEST_LINE_MAX: usize = 1024;

impl<'a> AccessFields<'a> {
    /// The fields of a request refused before routing, from what arrived of it: `bytes`
    /// starts with its head, which may be incomplete, oversized or not HTTP at all. The
    /// request line is the first line cut to [`REFUSED_REQUEST_LINE_MAX`] bytes; `Referer`
    /// and `User-Agent` are looked for in the head up to its blank line.
    pub fn refused(peer: Option<SocketAddr>, bytes: &'a [u8]) -> Self {
        let head = match memchr::memmem::find(bytes, b"\r\n\r\n") {
            Some(end) => bytes.get(..end + 2).unwrap_or(bytes),
            None => bytes,
        };
        let mut fields = Self::new(peer, head, false);
        let line = fields.request_line;
        fields.request_line = line.get(..REFUSED_REQUEST_LINE_MAX).unwrap_or(line);
        fields
    }
}

/// [`AccessFields`] kept across a wait for the blocking pool.
#[derive(Debug, Clone, Default)]
pub struct AccessEntry {
    peer: Option<SocketAddr>,
    request_line: Vec<u8>,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
    head_only: bool,
}

impl AccessEntry {
    /// An owned copy of `f`.
    pub fn new(f: &AccessFields<'_>) -> Self {
        Self {
            peer: f.peer,
            request_line: f.request_line.to_vec(),
            referer: f.referer.map(<[u8]>::to_vec),
            user_agent: f.user_agent.map(<[u8]>::to_vec),
            head_only: f.head_only,
        }
    }

    /// The fields, borrowed again.
    pub fn fields(&self) -> AccessFields<'_> {
        AccessFields {
            peer: self.peer,
            request_line: &self.request_line,
            referer: self.referer.as_deref(),
            user_agent: self.user_agent.as_deref(),
            head_only: self.head_only,
        }
    }
}

impl AccessBuffer {
    /// A buffer feeding `log`.
    pub fn new(log: std::sync::Arc<AccessLog>) -> Self {
        Self {
            tx: log.sender(),
            log,
            buf: Vec::new(),
            lines: 0,
        }
    }

    /// Appends the line of `entry`, answered `status` with a body of `body` bytes (`None`:
    /// unknown, chunked), at `date` (an IMF-fixdate, as in the `Date` header).
    pub fn line(&mut self, entry: &AccessFields<'_>, status: u16, body: Option<u64>, date: &[u8]) {
        let bodiless = entry.head_only || status < 200 || status == 204 || status == 304;
        let body = if bodiless { Some(0) } else { body };
        match self.log.format {
            AccessLogFormat::Combined => combined(&mut self.buf, entry, status, body, date),
            AccessLogFormat::Json => json(&mut self.buf, entry, status, body, date),
        }
        self.lines += 1;
        if self.buf.len() >= ACCESS_BUFFER_BYTES {
            self.hand_over();
        }
    }

    /// Gives the buffered lines to the writer without waiting (call once per timer tick).
    pub fn hand_over(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::replace(&mut self.buf, Vec::with_capacity(ACCESS_BUFFER_BYTES));
        let lines = std::mem::take(&mut self.lines);
        let refused = match &self.tx {
            Some(tx) => match tx.try_send((buf, lines)) {
                Ok(()) => false,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => true,
            },
            None => true,
        };
        if refused {
            self.log.dropped.fetch_add(lines as u64, Ordering::Relaxed);
        }
    }
}

impl Drop for AccessBuffer {
    fn drop(&mut self) {
        self.hand_over();
    }
}

fn peer_ip(out: &mut Vec<u8>, peer: Option<SocketAddr>) {
    match peer {
        Some(SocketAddr::V4(p)) => {
            // Four itoa calls: the formatting machinery costs ~1,000 instructions more.
            for (i, octet) in p.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(octet).as_bytes());
            }
        }
        Some(p) => {
            let _ = write!(out, "{}", p.ip());
        }
        None => out.push(b'-'),
    }
}

fn combined(out: &mut Vec<u8>, e: &AccessFields<'_>, status: u16, body: Option<u64>, date: &[u8]) {
    peer_ip(out, e.peer);
    out.extend_from_slice(b" - - [");
    clf_time(out, date);
    out.extend_from_slice(b"] \"");
    escaped(out, e.request_line);
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    match body {
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        None => out.push(b'-'),
    }
    for field in [e.referer, e.user_agent] {
        out.extend_from_slice(b" \"");
        match field {
            Some(v) => escaped(out, v),
            None => out.push(b'-'),
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

fn json(out: &mut Vec<u8>, e: &AccessFields<'_>, status: u16, body: Option<u64>, date: &[u8]) {
    let string = |out: &mut Vec<u8>, v: Option<&[u8]>| match v {
        Some(v) => {
            out.push(b'"');
            for &b in v {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    0x20..=0x7e => out.push(b),
                    _ => {
                        let _ = write!(out, "\\u{b:04x}");
                    }
                }
            }
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    };
    out.extend_from_slice(b"{\"remote\":");
    if e.peer.is_some() {
        out.push(b'"');
        peer_ip(out, e.peer);
        out.push(b'"');
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"time\":\"");
    iso_time(out, date);
    out.extend_from_slice(b"\",\"request\":");
    string(out, Some(e.request_line));
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.extend_from_slice(b",\"bytes\":");
    match body {
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"referer\":");
    string(out, e.referer);
    out.extend_from_slice(b",\"user_agent\":");
    string(out, e.user_agent);
    out.extend_from_slice(b"}\n");
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `1994-11-06T08:49:37Z`.
fn iso_time(out: &mut Vec<u8>, date: &[u8]) {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let month = date
        .get(8..11)
        .and_then(|m| MONTHS.iter().position(|n| *n == m));
    match (date.get(5..7), month, date.get(12..16), date.get(17..25)) {
        (Some(d), Some(m), Some(y), Some(t)) => {
            out.extend_from_slice(y);
            out.push(b'-');
            out.extend_from_slice(&[b'0' + (m as u8 + 1) / 10, b'0' + (m as u8 + 1) % 10]);
            out.push(b'-');
            out.extend_from_slice(d);
            out.push(b'T');
            out.extend_from_slice(t);
            out.push(b'Z');
        }
        _ => out.push(b'-'),
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `06/Nov/1994:08:49:37 +0000`.
fn clf_time(out: &mut Vec<u8>, date: &[u8]) {
    match (
        date.get(5..7),
        date.get(8..11),
        date.get(12..16),
        date.get(17..25),
    ) {
        (Some(d), Some(m), Some(y), Some(t)) => {
            for (part, sep) in [(d, b'/'), (m, b'/'), (y, b':')] {
                out.extend_from_slice(part);
                out.push(sep);
            }
            out.extend_from_slice(t);
            out.extend_from_slice(b" +0000");
        }
        _ => out.push(b'-'),
    }
}

/// Copies `v`, writing `"`, `\`, control bytes and non-ASCII as `\xHH` (as nginx does), so
/// a line always parses back.
fn escaped(out: &mut Vec<u8>, v: &[u8]) {
    let plain = |b: &u8| *b != b'"' && *b != b'\\' && (0x20..0x7f).contains(b);
    if v.iter().all(plain) {
        out.extend_from_slice(v);
        return;
    }
    for &b in v {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_lines() {
        let dir = std::env::temp_dir().join(format!("bmrapi-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let log = std::sync::Arc::new(AccessLog::open(&path, AccessLogFormat::Combined).unwrap());
        let mut b = AccessBuffer::new(log.clone());
        let head =
            b"GET /a?b=\"c\" HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\nReferer: http://r/\r\n\r\n";
        let e = AccessFields::new(Some("198.18.0.1:5000".parse().unwrap()), head, false);
        b.line(&e, 200, Some(13), b"Sun, 06 Nov 1994 08:49:37 GMT");
        let e = AccessEntry::new(&AccessFields::new(None, b"HEAD / HTTP/1.0\r\n\r\n", true));
        b.line(&e.fields(), 200, Some(99), b"Sun, 06 Nov 1994 08:49:37 GMT");
        drop(b);
        log.finish();
        assert_eq!(log.written(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "198.18.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a?b=\\x22c\\x22 HTTP/1.1\" 200 13 \"http://r/\" \"t/1\"\n\
             - - - [06/Nov/1994:08:49:37 +0000] \"HEAD / HTTP/1.0\" 200 0 \"-\" \"-\"\n"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn json_lines_parse_back() {
        let dir = std::env::temp_dir().join(format!("bmrapi-access-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.json");
        let log = std::sync::Arc::new(AccessLog::open(&path, AccessLogFormat::Json).unwrap());
        let mut b = AccessBuffer::new(log.clone());
        let head = b"GET /\xC3\xA9?q=\"x\\y\" HTTP/1.1\r\nUser-Agent: t/1\r\n\r\n";
        let e = AccessFields::new(Some("198.18.0.1:5000".parse().unwrap()), head, false);
        b.line(&e, 404, Some(10), b"Sun, 06 Nov 1994 08:49:37 GMT");
        b.line(
            &AccessFields::new(None, b"POST /e HTTP/1.1\r\n\r\n", false),
            200,
            None,
            b"Sun, 06 Dec 1994 08:49:37 GMT",
        );
        drop(b);
        log.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect(l))
            .collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({"remote": "198.18.0.1", "time": "1994-11-06T08:49:37Z",
                    "request": "GET /\u{c3}\u{a9}?q=\"x\\y\" HTTP/1.1", "status": 404, "bytes": 10,
                    "referer": null, "user_agent": "t/1"}),
                serde_json::json!({"remote": null, "time": "1994-12-06T08:49:37Z",
                    "request": "POST /e HTTP/1.1", "status": 200, "bytes": null,
                    "referer": null, "user_agent": null}),
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
