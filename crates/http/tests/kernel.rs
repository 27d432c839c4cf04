//! The kernel-socket transport against real clients on 127.0.0.1 (ports chosen by the OS):
//! raw sockets, curl, Python's http.client and wrk. Timeouts are shortened so the suite
//! runs in seconds.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use boomerang_http::{KernelServer, ServerConfig};
use common::{parse_all, parse_response, pattern, TempDir};

struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    fn start(root: Option<&Path>, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut cfg = ServerConfig {
            workers: 2,
            root: root.map(Path::to_path_buf),
            header_read_timeout: Duration::from_secs(1),
            keep_alive_timeout: Duration::from_secs(5),
            linger_timeout: Duration::from_millis(500),
            timer_granularity: Duration::from_millis(20),
            shutdown_grace: Duration::from_secs(2),
            ..Default::default()
        };
        tweak(&mut cfg);
        let workers = cfg.workers;
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&started);
        let server = KernelServer::bind("127.0.0.1:0".parse().unwrap(), cfg)
            .unwrap()
            .on_worker_start(Arc::new(move |_i| {
                counter.fetch_add(1, Ordering::Relaxed);
            }));
        assert_eq!(server.workers(), workers);
        let addr = server.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let handle = std::thread::spawn(move || server.run(&s2));
        Self {
            addr,
            stop,
            handle: Some(handle),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Stops the server and checks that it shut down cleanly.
    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let r = self.handle.take().unwrap().join().expect("server thread");
        r.expect("server run() returned an error");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Reads from `s` until `n` complete responses are parsed (or EOF / timeout).
fn read_responses(s: &mut TcpStream, n: usize) -> Vec<common::Parsed> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let rs = parse_all(&buf);
        if rs.len() >= n {
            return rs;
        }
        match s.read(&mut chunk) {
            Ok(0) => return parse_all(&buf),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) => panic!("read failed after {} bytes: {e}", buf.len()),
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30"]);
    c
}

#[test]
fn raw_socket_pipelining() {
    let srv = TestServer::start(None, |_| {});
    let mut s = srv.connect();
    let mut req = Vec::new();
    for i in 0..20 {
        if i % 3 == 1 {
            req.extend_from_slice(
                format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{i:02}")
                    .as_bytes(),
            );
        } else {
            req.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
        }
    }
    s.write_all(&req).unwrap();
    let rs = read_responses(&mut s, 20);
    assert_eq!(rs.len(), 20);
    for (i, r) in rs.iter().enumerate() {
        assert_eq!(r.status, 200);
        if i % 3 == 1 {
            assert_eq!(
                r.body,
                format!("{i:02}").as_bytes(),
                "response {i} in order"
            );
        } else {
            assert_eq!(r.body, b"Hello, World!");
        }
    }
    srv.stop();
}

#[test]
fn connection_close_is_lingering_not_reset() {
    let srv = TestServer::start(None, |_| {});
    let mut s = srv.connect();
    // The request says close, and garbage follows that the server never reads as a
    // request; the response must still arrive whole, followed by a clean EOF.
    let mut req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'z', 100_000));
    s.write_all(&req).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("clean EOF, no reset");
    let rs = parse_all(&all);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].body, b"Hello, World!");
    assert_eq!(rs[0].len, all.len());
    srv.stop();
}

#[test]
fn curl_keep_alive_head_range_and_conditional() {
    let dir = TempDir::new("curl");
    let data = pattern(100_000, 9);
    std::fs::write(dir.path().join("data.bin"), &data).unwrap();
    let srv = TestServer::start(Some(dir.path()), |_| {});

    // Keep-alive: two URLs in one curl run share one connection.
    let out = run(curl()
        .args([
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{num_connects}\n",
        ])
        .arg(srv.url("/plaintext"))
        .arg(srv.url("/plaintext")));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1", "0"],
        "second request reused the connection"
    );

    // HEAD
    let out = run(curl().args(["-I"]).arg(srv.url("/plaintext")));
    let lower = out.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200 ok"), "{out}");
    assert!(lower.contains("content-length: 13"), "{out}");

    // Full downloads: the second one comes from the cache, its body written by reference.
    for i in 0..2 {
        let f = dir.path().join(format!("full{i}.out"));
        let code = run(curl()
            .args(["-w", "%{http_code}", "-o"])
            .arg(&f)
            .arg(srv.url("/data.bin")));
        assert_eq!(code, "200");
        assert!(std::fs::read(&f).unwrap() == data, "download {i} differs");
    }

    // Range
    let range_file = dir.path().join("range.out");
    let code = run(curl()
        .args(["-r", "100-1099", "-w", "%{http_code}", "-o"])
        .arg(&range_file)
        .arg(srv.url("/data.bin")));
    assert_eq!(code, "206");
    assert_eq!(std::fs::read(&range_file).unwrap(), &data[100..1100]);

    // If-None-Match with the ETag from a first response.
    let head = run(curl().args(["-I"]).arg(srv.url("/data.bin")));
    let etag = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("etag: ")
                .or_else(|| l.strip_prefix("ETag: "))
        })
        .expect("ETag header")
        .trim()
        .to_string();
    let code = run(curl()
        .args(["-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("If-None-Match: {etag}"))
        .arg(srv.url("/data.bin")));
    assert_eq!(code, "304");
    let code = run(curl()
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "If-None-Match: \"other\"",
        ])
        .arg(srv.url("/data.bin")));
    assert_eq!(code, "200");
    let code = run(curl()
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(srv.url("/missing")));
    assert_eq!(code, "404");
    // Percent-decoding and dot-segments, sent as is: never outside the root.
    let code = run(curl()
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(srv.url("/%64ata.bin")));
    assert_eq!(code, "200");
    for escape in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/x/../../data.bin",
    ] {
        let out = run(curl()
            .args(["--path-as-is", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(srv.url(escape)));
        let expect = if escape.ends_with("data.bin") {
            "200"
        } else {
            "404"
        };
        assert_eq!(out, expect, "{escape}");
    }
    srv.stop();
}

#[test]
fn python_http_client() {
    let srv = TestServer::start(None, |_| {});
    let script = r#"
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
for _ in range(3):
    c.request("GET", "/plaintext")
    r = c.getresponse()
    assert r.status == 200, r.status
    assert r.read() == b"Hello, World!"
body = bytes(range(256)) * 1000
c.request("POST", "/echo", body=body)
r = c.getresponse()
assert r.status == 200 and r.read() == body
c.request("POST", "/echo", body=iter([b"abc", b"defg"]), encode_chunked=True)
r = c.getresponse()
assert r.status == 200 and r.read() == b"abcdefg"
c.request("HEAD", "/plaintext")
r = c.getresponse()
assert r.status == 200 and r.getheader("Content-Length") == "13" and r.read() == b""
c.request("GET", "/metrics")
r = c.getresponse()
text = r.read().decode()
assert r.status == 200 and 'boomerang_http_responses_total{code="200"}' in text, text
print("ok")
"#;
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(srv.addr.ip().to_string())
        .arg(srv.addr.port().to_string()));
    assert_eq!(out.trim(), "ok");
    srv.stop();
}

#[test]
fn wrk_smoke() {
    let srv = TestServer::start(None, |_| {});
    let out = run(Command::new("wrk")
        .args(["-t1", "-c8", "-d2s", "--timeout", "5s"])
        .arg(srv.url("/plaintext")));
    let requests: u64 = out
        .lines()
        .find_map(|l| {
            l.split_once(" requests in ")
                .map(|(n, _)| n.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{out}"));
    assert!(requests > 0, "{out}");
    assert!(!out.contains("Socket errors"), "{out}");
    assert!(!out.contains("Non-2xx"), "{out}");
    srv.stop();
}

#[test]
fn slowloris_is_cut_off_while_others_are_served() {
    let srv = TestServer::start(None, |c| c.header_read_timeout = Duration::from_millis(800));
    let mut slow = srv.connect();
    slow.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    // A crowd of idle half-requests too: each must get its 408 as well.
    let mut crowd: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut c = srv.connect();
            c.write_all(b"GET /plaintext HT").unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    let dripper = std::thread::spawn(move || {
        // Drip a header line every 100 ms for up to 4 s; stop when the server cuts us off.
        let mut sent = 0;
        while started.elapsed() < Duration::from_secs(4) {
            std::thread::sleep(Duration::from_millis(100));
            if slow.write_all(b"X-Drip: 1\r\n").is_err() {
                break;
            }
            sent += 1;
        }
        let mut all = Vec::new();
        let _ = slow.read_to_end(&mut all);
        (sent, all, started.elapsed())
    });
    // Meanwhile another client is served normally.
    let mut ok = 0;
    for _ in 0..20 {
        let mut s = srv.connect();
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let rs = read_responses(&mut s, 1);
        if rs.first().is_some_and(|r| r.status == 200) {
            ok += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ok, 20);
    let (_sent, all, elapsed) = dripper.join().unwrap();
    let r = parse_response(&all, false).expect("a 408 response before the close");
    assert_eq!(r.status, 408);
    assert!(
        elapsed < Duration::from_secs(4),
        "cut off by the header timeout, not by the client ({elapsed:?})"
    );
    for c in &mut crowd {
        let mut all = Vec::new();
        c.read_to_end(&mut all)
            .expect("closed cleanly after the 408");
        assert_eq!(parse_response(&all, false).expect("408").status, 408);
    }
    srv.stop();
}

#[test]
fn big_static_file_is_byte_exact() {
    let dir = TempDir::new("big");
    let data = pattern(20 * 1024 * 1024, 77);
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    let srv = TestServer::start(Some(dir.path()), |_| {});
    let out_file = dir.path().join("download.out");
    let code = run(curl()
        .args(["-w", "%{http_code}", "-o"])
        .arg(&out_file)
        .arg(srv.url("/big.bin")));
    assert_eq!(code, "200");
    let got = std::fs::read(&out_file).unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "20 MiB download differs");
    srv.stop();
}

#[test]
fn chunked_upload_is_echoed_byte_exact() {
    let dir = TempDir::new("upload");
    let data = pattern(5 * 1024 * 1024, 5);
    let in_file = dir.path().join("up.bin");
    std::fs::write(&in_file, &data).unwrap();
    let srv = TestServer::start(None, |_| {});
    let out_file = dir.path().join("echo.out");
    let code = run(curl()
        .args([
            "-w",
            "%{http_code}",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: application/octet-stream",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", in_file.display()))
        .arg("-o")
        .arg(&out_file)
        .arg(srv.url("/echo")));
    assert_eq!(code, "200");
    let got = std::fs::read(&out_file).unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "5 MiB chunked echo differs");
    srv.stop();
}

#[test]
fn oversize_upload_is_413() {
    let srv = TestServer::start(None, |c| c.max_body_bytes = 1000);
    let mut s = srv.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n")
        .unwrap();
    let rs = read_responses(&mut s, 1);
    assert_eq!(rs[0].status, 413);
    assert_eq!(rs[0].header("connection"), Some("close"));
    srv.stop();
}

#[test]
fn stop_closes_idle_keep_alive_connections() {
    let srv = TestServer::start(None, |c| c.keep_alive_timeout = Duration::from_secs(60));
    let mut s = srv.connect();
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_responses(&mut s, 1)[0].status, 200);
    let t = Instant::now();
    srv.stop();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "idle connections do not hold the stop up"
    );
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("clean EOF after stop");
    assert!(rest.is_empty());
}

#[test]
fn connections_over_the_worker_limit_are_refused() {
    let srv = TestServer::start(None, |c| {
        c.workers = 1;
        c.max_connections_per_worker = 2;
    });
    // The first two connections are served and stay open.
    let mut kept: Vec<TcpStream> = (0..2).map(|_| srv.connect()).collect();
    for s in &mut kept {
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_responses(s, 1)[0].status, 200);
    }
    // A third finds the worker full: it is accepted by the kernel, then closed at once.
    let mut extra = srv.connect();
    let _ = extra.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut buf = Vec::new();
    let r = extra.read_to_end(&mut buf);
    assert!(
        r.is_err() || buf.is_empty(),
        "refused connection got an answer"
    );
    drop(kept);
    // Once the others are gone (the worker saw their EOF), new connections are served again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = srv.connect();
        let _ = s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap_or(0);
        if parse_response(&buf[..n], false).is_some_and(|r| r.status == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "slots were never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
    srv.stop();
}
