//! `boomerang::App` in this process over kernel sockets on 127.0.0.1: panicking handlers
//! (inline and blocking) are answered 500 and counted while the server keeps serving, a
//! saturated blocking pool answers 503, 405 carries `Allow`, and path parameters follow
//! the documented edge cases over the wire. Settings come through the same flags and TOML
//! file as `boomerang serve`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use boomerang::cli::ServeArgs;
use boomerang::config::ServeSettings;
use boomerang::{App, HttpError, Request, Response, StatusCode};
use common::{exchange, request, wait_listening};

/// An App served on a thread until dropped.
struct Served {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
    dir: std::path::PathBuf,
}

impl Served {
    /// Serves `app` with `--kernel --listen 127.0.0.1:<free> --blocking-threads 1` and a
    /// TOML file holding `toml`.
    fn start(app: App, toml: &str) -> Served {
        Self::start_with(app, toml, |_| {})
    }

    /// [`Served::start`], with `more` changing the flags first.
    fn start_with(app: App, toml: &str, more: impl FnOnce(&mut ServeArgs)) -> Served {
        let port = common::free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("boomerang-app-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("server.toml");
        std::fs::write(&config, toml).unwrap();
        let mut args = ServeArgs {
            kernel: true,
            listen: Some(addr),
            blocking_threads: Some(1),
            config: Some(config),
            ..ServeArgs::default()
        };
        more(&mut args);
        let settings = ServeSettings::resolve(&args).expect("settings");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || app.serve(&settings, flag));
        wait_listening(addr, || !thread.is_finished());
        Served {
            addr,
            stop,
            thread: Some(thread),
            dir,
        }
    }

    fn metric(&self, name: &str) -> u64 {
        let text = request(self.addr, "GET", "/metrics", b"").text();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let result = t.join();
            if !std::thread::panicking() {
                result.expect("server thread").expect("server result");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn panicking_handlers_get_500_and_the_server_serves_on() {
    let app = App::new()
        .get("/panic", |_: &Request| -> Response {
            panic!("inline handler fails")
        })
        .get_blocking("/panic-blocking", |_: &Request| -> Response {
            panic!("blocking handler fails")
        })
        .get("/ok", |_: &Request| "fine");
    let s = Served::start(app, "[http]\nworkers = 1\n");
    // Pipelined on one connection: the panics do not end the connection either.
    let raw = b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n\
                GET /panic-blocking HTTP/1.1\r\nHost: t\r\n\r\n\
                GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let rs = exchange(s.addr, raw, false);
    let got: Vec<(u16, String)> = rs.iter().map(|r| (r.status, r.text())).collect();
    assert_eq!(
        got,
        [
            (500, "Internal Server Error\n".to_string()),
            (500, "Internal Server Error\n".to_string()),
            (200, "fine".to_string())
        ]
    );
    for _ in 0..3 {
        assert_eq!(request(s.addr, "GET", "/panic", b"").status, 500);
        assert_eq!(request(s.addr, "GET", "/ok", b"").text(), "fine");
    }
    assert_eq!(s.metric("boomerang_http_handler_panics_total"), 5);
    assert_eq!(request(s.addr, "GET", "/panic-blocking", b"").status, 500);
    assert_eq!(s.metric("boomerang_http_handler_panics_total"), 6);
}

#[test]
fn a_full_blocking_pool_answers_503() {
    // One pool thread, a queue of one job: with the thread held, one more request waits
    // and the next is refused.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let release_rx = Mutex::new(release_rx);
    let app = App::new().get_blocking("/gate", move |_: &Request| {
        let _ = started_tx.lock().unwrap().send(());
        let _ = release_rx.lock().unwrap().recv();
        "through"
    });
    let s = Served::start(app, "[http]\nblocking-queue = 1\n");
    let addr = s.addr;
    let first = std::thread::spawn(move || request(addr, "GET", "/gate", b""));
    started_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the first job runs");
    // Two more: whichever the server submits second finds the queue full.
    let (done_tx, done_rx) = mpsc::channel();
    let others: Vec<_> = (0..2)
        .map(|_| {
            let done = done_tx.clone();
            std::thread::spawn(move || {
                let r = request(addr, "GET", "/gate", b"");
                let _ = done.send(r.status);
                r
            })
        })
        .collect();
    // The refused one answers while the pool thread is still held.
    let early = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("an answer");
    assert_eq!(early, 503);
    for _ in 0..2 {
        release_tx.send(()).unwrap();
    }
    assert_eq!(first.join().unwrap().text(), "through");
    let mut statuses: Vec<u16> = others
        .into_iter()
        .map(|t| t.join().unwrap().status)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503]);
    assert_eq!(s.metric("boomerang_http_blocking_rejected_total"), 1);
    // The pool serves again once free.
    release_tx.send(()).unwrap();
    assert_eq!(request(addr, "GET", "/gate", b"").status, 200);
}

#[test]
fn routes_params_and_methods_over_the_wire() {
    let show = |req: &Request| -> Result<String, HttpError> {
        let id = req
            .param("id")
            .ok_or_else(|| HttpError::new(500, "no id"))?;
        Ok(format!("user [{id}] query {:?}", req.query()))
    };
    let app = App::new()
        .get("/users/{id}", show)
        .delete("/users/{id}", |_: &Request| StatusCode::NO_CONTENT)
        .get("/users/me", |_: &Request| "the current user")
        .get("/files/{*path}", |req: &Request| {
            format!("file [{}]", req.param("path").unwrap_or("?"))
        })
        .post("/users", |req: &Request| {
            (StatusCode::CREATED, format!("{} bytes", req.body().len()))
        });
    let s = Served::start(app, "");
    let a = s.addr;
    let text = |t: &str| {
        let r = request(a, "GET", t, b"");
        (r.status, r.text())
    };
    assert_eq!(text("/users/42"), (200, "user [42] query None".into()));
    assert_eq!(
        text("/users/42?x=1&y=%20"),
        (200, "user [42] query Some(\"x=1&y=%20\")".into())
    );
    assert_eq!(
        text("/users/J%C3%BCrgen"),
        (200, "user [Jürgen] query None".into())
    );
    assert_eq!(text("/users/a%2Fb"), (200, "user [a/b] query None".into()));
    assert_eq!(text("/users/me"), (200, "the current user".into()));
    assert_eq!(text("/users/%6De"), (200, "the current user".into()));
    assert_eq!(
        text("/files/a/b%20c/d.txt"),
        (200, "file [a/b c/d.txt]".into())
    );
    assert_eq!(text("/files/"), (200, "file []".into()));
    // Trailing slash, empty segment, dot-segments, bad UTF-8: no route.
    for t in [
        "/users/",
        "/users/42/",
        "/users//42",
        "/users/..",
        "/users/%2e%2e",
        "/users/42/../43",
        "/files/a/../../etc/passwd",
        "/users/%FF",
        "/files",
    ] {
        assert_eq!(text(t).0, 404, "{t}");
    }
    let r = request(a, "PUT", "/users/42", b"x");
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, HEAD, DELETE"))
    );
    let r = request(a, "GET", "/users", b"");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert_eq!(request(a, "DELETE", "/users/42", b"").status, 204);
    let r = request(a, "POST", "/users", b"hello");
    assert_eq!((r.status, r.text().as_str()), (201, "5 bytes"));
    let r = request(a, "HEAD", "/users/42", b"");
    assert_eq!((r.status, r.header("content-length")), (200, Some("20")));
}

/// One combined-log-format line, parsed back: (remote, time, request, status, bytes,
/// referer, user agent).
fn parse_combined(line: &str) -> (String, String, String, u16, String, String, String) {
    let (remote, rest) = line.split_once(" - - [").expect("remote - - [");
    let (time, rest) = rest.split_once("] \"").expect("time");
    let (request, rest) = rest.split_once("\" ").expect("request");
    let mut it = rest.splitn(3, ' ');
    let status = it.next().unwrap().parse().expect("status");
    let bytes = it.next().unwrap().to_string();
    let quoted = it.next().unwrap();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .expect("quoted referer and agent");
    let (referer, agent) = inner.split_once("\" \"").expect("referer and agent");
    (
        remote.to_string(),
        time.to_string(),
        request.to_string(),
        status,
        bytes,
        referer.to_string(),
        agent.to_string(),
    )
}

#[test]
fn the_access_log_has_one_combined_line_per_request() {
    let dir = std::env::temp_dir().join(format!("bmrapi-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let app = App::new()
        .get("/ok", |_: &Request| "fine")
        .post_blocking("/store", |req: &Request| {
            (StatusCode::CREATED, format!("{} stored", req.body().len()))
        });
    let path = log.clone();
    let s = Served::start_with(app, "", move |a| a.access_log = Some(path));
    let a = s.addr;
    let raw = b"GET /ok?x=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: probe/1.0\r\nReferer: http://ref.example/\r\n\r\n\
                HEAD /ok HTTP/1.1\r\nHost: t\r\n\r\n\
                GET /nope HTTP/1.1\r\nHost: t\r\nUser-Agent: \"quoted\"\r\n\r\n\
                POST /store HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd\
                PUT /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let back = String::from_utf8(common::exchange_raw(a, raw)).unwrap();
    // No body here contains "HTTP/1.1 ": every occurrence starts a status line.
    let status_lines: Vec<&str> = back
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|r| r.split("\r\n").next())
        .collect();
    assert_eq!(
        status_lines,
        [
            "200 OK",
            "200 OK",
            "404 Not Found",
            "201 Created",
            "405 Method Not Allowed"
        ],
        "{back}"
    );
    drop(s); // stops the server: workers hand over their lines, the writer finishes
    let text = std::fs::read_to_string(&log).expect("the access log");
    let lines: Vec<_> = text.lines().map(parse_combined).collect();
    assert_eq!(lines.len(), 5, "{text}");
    let want = [
        (
            "GET /ok?x=1 HTTP/1.1",
            200,
            "4",
            "http://ref.example/",
            "probe/1.0",
        ),
        ("HEAD /ok HTTP/1.1", 200, "0", "-", "-"),
        ("GET /nope HTTP/1.1", 404, "10", "-", "\\x22quoted\\x22"),
        ("POST /store HTTP/1.1", 201, "8", "-", "-"),
        ("PUT /ok HTTP/1.1", 405, "19", "-", "-"),
    ];
    for (got, want) in lines.iter().zip(want) {
        assert_eq!(got.0, "127.0.0.1");
        let t = &got.1;
        // 03/Dec/2026:12:44:42 +0000
        assert_eq!(
            (t.len(), &t[2..3], &t[6..7], &t[11..12], &t[20..]),
            (26, "/", "/", ":", " +0000"),
            "{t}"
        );
        assert_eq!(
            (
                got.2.as_str(),
                got.3,
                got.4.as_str(),
                got.5.as_str(),
                got.6.as_str()
            ),
            want
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn requests_refused_before_routing_are_in_the_access_log() {
    let dir = std::env::temp_dir().join(format!("bmrapi-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let app = App::new().post("/ok", |req: &Request| format!("{}", req.body().len()));
    let path = log.clone();
    let toml = "[http]\nmax-body-bytes = 16\nmax-header-bytes = 2048\nmax-uri-bytes = 1500\n";
    let s = Served::start_with(app, toml, move |a| a.access_log = Some(path));
    let a = s.addr;
    let long_uri = format!("/{}", "u".repeat(1600));
    let big_header = "v".repeat(3000);
    let cases: [(Vec<u8>, u16); 4] = [
        (b"\x16\x03\x01\x00garbage\r\n\r\n".to_vec(), 400),
        (
            b"POST /ok HTTP/1.1\r\nHost: t\r\nUser-Agent: big/1\r\nContent-Length: 100\r\n\r\n"
                .to_vec(),
            413,
        ),
        (
            format!("GET {long_uri} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
            414,
        ),
        (
            format!("GET /ok HTTP/1.1\r\nReferer: http://r/\r\nX-Big: {big_header}\r\n\r\n")
                .into_bytes(),
            431,
        ),
    ];
    for (raw, status) in &cases {
        let back = common::exchange_raw(a, raw);
        let want = format!("HTTP/1.1 {status} ");
        assert!(back.starts_with(want.as_bytes()), "{status}: {back:?}");
    }
    drop(s);
    let text = std::fs::read_to_string(&log).expect("the access log");
    let lines: Vec<_> = text.lines().map(parse_combined).collect();
    // Each worker hands its own lines over: sort by status.
    let mut got: Vec<_> = lines
        .iter()
        .map(|l| (l.2.clone(), l.3, l.5.as_str(), l.6.as_str()))
        .collect();
    got.sort_by_key(|l| l.1);
    let cut_uri: String = format!("GET {long_uri}").chars().take(1024).collect();
    assert_eq!(
        got,
        [
            ("\\x16\\x03\\x01\\x00garbage".to_string(), 400, "-", "-"),
            ("POST /ok HTTP/1.1".to_string(), 413, "-", "big/1"),
            (cut_uri, 414, "-", "-"),
            ("GET /ok HTTP/1.1".to_string(), 431, "http://r/", "-"),
        ],
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
