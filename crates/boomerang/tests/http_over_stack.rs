//! The HTTP suite of `crates/http/tests/kernel.rs`, run against `boomerang serve` on AF_XDP
//! (the userspace TCP stack) in a client – router – server namespace trio, with the real
//! clients (curl, Python's http.client, raw sockets, wrk) in the client namespace.
//! Needs root; skipped (with a message) otherwise. Every test builds its own namespaces and
//! server, bounded in time, torn down by guards even when it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use boomerang::harness::{self, ServerProcess, TempDir, Topology};
use boomerang_nic::need_root;
use boomerang_nic::netns::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_boomerang");

/// The header-read timeout `serve` uses (boomerang_http's default; the CLI and the TOML
/// file cannot change it).
const HEADER_READ_TIMEOUT: Duration = boomerang_http::config::DEFAULT_HEADER_READ_TIMEOUT;

/// A server on AF_XDP in its own topology, serving a temporary directory.
struct Running {
    server: ServerProcess,
    topo: Topology,
    site: TempDir,
}

impl Running {
    fn start(tag: &str) -> Running {
        let site = TempDir::new(tag).expect("site dir");
        harness::write_site(site.path()).expect("site");
        let topo = Topology::new(tag, false).expect("topology");
        let args = harness::xdp_serve_args(site.path());
        let server = harness::start_serve(&topo, Path::new(BIN), &args, site.path())
            .expect("boomerang serve ready");
        Running { server, topo, site }
    }

    fn client(&self) -> &Netns {
        &self.topo.ns.client
    }

    fn addr(&self) -> SocketAddr {
        self.topo.server_addr()
    }

    fn url(&self, path: &str) -> String {
        self.topo.url(path)
    }

    /// curl inside the client namespace; returns stdout.
    fn curl(&self, args: &[&str]) -> String {
        let mut all = vec!["-sS", "--max-time", "60"];
        all.extend_from_slice(args);
        self.client().run("curl", &all).expect("curl")
    }

    /// Stops the server with SIGTERM and checks that it exits cleanly.
    fn stop(mut self) {
        let (status, _) = self.server.stop(Duration::from_secs(10)).expect("stop");
        assert!(
            status.success(),
            "{status}; log:\n{}",
            self.server.log_tail(30)
        );
    }
}

/// One parsed response: status and body (Content-Length framed).
#[derive(Debug)]
struct Parsed {
    status: u16,
    body: Vec<u8>,
}

/// Parses every complete Content-Length-framed response at the start of `buf`.
fn parse_all(mut buf: &[u8]) -> Vec<Parsed> {
    let mut out = Vec::new();
    while let Some((head, status, len)) = boomerang::serve::sim::response_frame(buf) {
        let Some(body) = buf.get(head..head + len) else {
            break;
        };
        out.push(Parsed {
            status,
            body: body.to_vec(),
        });
        buf = &buf[head + len..];
    }
    out
}

/// Reads until `n` responses are parsed, EOF, an error or the read timeout.
fn read_responses(s: &mut TcpStream, n: usize) -> Vec<Parsed> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let rs = parse_all(&buf);
        if rs.len() >= n {
            return rs;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return rs,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

fn sha256(ns: &Netns, path: &Path) -> String {
    let out = ns
        .run("sha256sum", &[path.to_string_lossy().as_ref()])
        .expect("sha256sum");
    out.split_whitespace().next().expect("digest").to_string()
}

#[test]
fn curl_keep_alive_head_range_conditional_and_python_client() {
    need_root!();
    let r = Running::start("hc");
    let data = harness::pattern(100_000);
    std::fs::write(r.site.path().join("data.bin"), &data).expect("write");

    // Keep-alive: two URLs in one curl run share one connection.
    let out = r
        .client()
        .command("curl")
        .args(["-sS", "-v", "--max-time", "30", "-o", "/dev/null", "-o"])
        .arg("/dev/null")
        .arg(r.url("/plaintext"))
        .arg(r.url("/plaintext"))
        .output()
        .expect("curl -v");
    assert!(out.status.success(), "{out:?}");
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(
        verbose.contains("Re-using existing connection")
            || verbose.contains("Reusing existing connection"),
        "second request did not reuse the connection:\n{verbose}"
    );

    // HEAD
    let head = r.curl(&["-I", &r.url("/plaintext")]);
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200 ok"), "{head}");
    assert!(lower.contains("content-length: 13"), "{head}");

    // Range → 206 with exactly those bytes.
    let range_file = r.site.path().join("range.out");
    let code = r.curl(&[
        "-r",
        "100-1099",
        "-w",
        "%{http_code}",
        "-o",
        &range_file.to_string_lossy(),
        &r.url("/data.bin"),
    ]);
    assert_eq!(code, "206");
    assert_eq!(std::fs::read(&range_file).expect("range"), &data[100..1100]);

    // If-None-Match with the ETag of a first response → 304; another tag → 200.
    let head = r.curl(&["-I", &r.url("/data.bin")]);
    let etag = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("etag").then(|| value.trim())
        })
        .unwrap_or_else(|| panic!("no ETag in {head}"))
        .to_string();
    let inm = format!("If-None-Match: {etag}");
    let code = r.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &inm,
        &r.url("/data.bin"),
    ]);
    assert_eq!(code, "304");
    let code = r.curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "If-None-Match: \"other\"",
        &r.url("/data.bin"),
    ]);
    assert_eq!(code, "200");

    // Python's http.client: keep-alive GETs, POST /echo (Content-Length and chunked), HEAD.
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
print("ok")
"#;
    let out = r
        .client()
        .run(
            "python3",
            &[
                "-c",
                script,
                &r.addr().ip().to_string(),
                &r.addr().port().to_string(),
            ],
        )
        .expect("python3 http.client");
    assert_eq!(out.trim(), "ok");
    r.stop();
}

#[test]
fn raw_pipelining_in_order_and_wrk_smoke() {
    need_root!();
    let r = Running::start("hp");
    let addr = r.addr();
    let rs = r
        .client()
        .enter(move || {
            let mut s = connect(addr);
            let req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n\
                POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond\
                POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthird";
            s.write_all(req).expect("write");
            read_responses(&mut s, 3)
        })
        .expect("enter");
    assert_eq!(rs.len(), 3, "{rs:?}");
    assert!(rs.iter().all(|p| p.status == 200), "{rs:?}");
    assert_eq!(rs[0].body, b"Hello, World!");
    assert_eq!(rs[1].body, b"second");
    assert_eq!(rs[2].body, b"third");

    // A longer pipeline of 20, mixed GET and POST.
    let rs = r
        .client()
        .enter(move || {
            let mut s = connect(addr);
            let mut req = Vec::new();
            for i in 0..20 {
                if i % 3 == 1 {
                    req.extend_from_slice(
                        format!(
                            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{i:02}"
                        )
                        .as_bytes(),
                    );
                } else {
                    req.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
                }
            }
            s.write_all(&req).expect("write");
            read_responses(&mut s, 20)
        })
        .expect("enter");
    assert_eq!(rs.len(), 20);
    for (i, p) in rs.iter().enumerate() {
        assert_eq!(p.status, 200);
        if i % 3 == 1 {
            assert_eq!(
                p.body,
                format!("{i:02}").as_bytes(),
                "response {i} in order"
            );
        } else {
            assert_eq!(p.body, b"Hello, World!");
        }
    }

    // Bounded wrk smoke.
    let out = r
        .client()
        .run(
            "wrk",
            &[
                "-t1",
                "-c8",
                "-d2s",
                "--timeout",
                "5s",
                &r.url("/plaintext"),
            ],
        )
        .expect("wrk");
    let requests: u64 = out
        .lines()
        .find_map(|l| {
            l.split_once(" requests in ")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{out}"));
    assert!(requests > 0, "{out}");
    assert!(!out.contains("Socket errors"), "{out}");
    assert!(!out.contains("Non-2xx"), "{out}");
    r.stop();
}

#[test]
fn slowloris_is_cut_off_while_others_are_served() {
    need_root!();
    let r = Running::start("hs");
    let addr = r.addr();
    // The client gives up after the header timeout plus this margin.
    let limit = HEADER_READ_TIMEOUT + Duration::from_secs(5);
    let dripper = r
        .client()
        .spawn_thread(move || {
            let mut slow = connect(addr);
            slow.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            let started = Instant::now();
            let _ = slow.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n");
            let mut got = Vec::new();
            let mut closed = false;
            let mut chunk = [0u8; 4096];
            // Drip a header line every 500 ms; stop when the server answers or closes.
            while started.elapsed() < limit {
                match slow.read(&mut chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(k) => got.extend_from_slice(&chunk[..k]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
                if !got.is_empty() {
                    // The answer started: read the rest until the close.
                    slow.set_read_timeout(Some(Duration::from_secs(2)))
                        .expect("timeout");
                    let mut rest = Vec::new();
                    let _ = slow.read_to_end(&mut rest);
                    got.extend_from_slice(&rest);
                    closed = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
                if slow.write_all(b"X-Drip: 1\r\n").is_err() {
                    closed = true;
                    break;
                }
            }
            (got, closed, started.elapsed())
        })
        .expect("enter");
    // A few idle half-requests too.
    let crowd = r
        .client()
        .spawn_thread(move || {
            let mut conns: Vec<TcpStream> = (0..10)
                .map(|_| {
                    let mut c = connect(addr);
                    c.write_all(b"GET /plaintext HT").expect("write");
                    c
                })
                .collect();
            conns
                .iter_mut()
                .map(|c| {
                    c.set_read_timeout(Some(HEADER_READ_TIMEOUT + Duration::from_secs(5)))
                        .expect("timeout");
                    let mut all = Vec::new();
                    let res = c.read_to_end(&mut all);
                    (res.is_ok(), parse_all(&all).first().map(|p| p.status))
                })
                .collect::<Vec<_>>()
        })
        .expect("enter");
    // Meanwhile other clients are served normally, for as long as the slow one hangs on.
    let served = r
        .client()
        .enter(move || {
            let mut ok = 0;
            for _ in 0..40 {
                let mut s = connect(addr);
                s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .expect("write");
                let rs = read_responses(&mut s, 1);
                if rs.first().is_some_and(|p| p.status == 200) {
                    ok += 1;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            ok
        })
        .expect("enter");
    assert_eq!(served, 40, "other clients were not all served");
    let (got, closed, elapsed) = dripper.join().expect("dripper");
    assert!(
        closed,
        "the dripping client was not cut off within {limit:?} ({} bytes received)",
        got.len()
    );
    assert!(elapsed < limit, "cut off only after {elapsed:?}");
    if !got.is_empty() {
        let rs = parse_all(&got);
        assert_eq!(
            rs.first().map(|p| p.status),
            Some(408),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
    eprintln!(
        "slowloris: cut off after {elapsed:?} with {}",
        if got.is_empty() {
            "a close".to_string()
        } else {
            format!("{} bytes (408)", got.len())
        }
    );
    for (i, (clean, status)) in crowd.join().expect("crowd").into_iter().enumerate() {
        assert!(
            status == Some(408) || (clean && status.is_none()),
            "idle half-request {i}: clean close {clean}, status {status:?}"
        );
    }
    r.stop();
}

#[test]
fn big_download_and_chunked_upload_are_byte_exact() {
    need_root!();
    let r = Running::start("hb");
    let big = harness::pattern(20 << 20);
    let big_path = r.site.path().join("20m.bin");
    std::fs::write(&big_path, &big).expect("write");
    let out = r.site.path().join("20m.out");
    let code = r.curl(&[
        "-w",
        "%{http_code}",
        "-o",
        &out.to_string_lossy(),
        &r.url("/20m.bin"),
    ]);
    assert_eq!(code, "200");
    assert_eq!(
        sha256(r.client(), &out),
        sha256(r.client(), &big_path),
        "20 MiB download differs"
    );
    assert!(std::fs::read(&out).expect("downloaded") == big);

    let up = r.site.path().join("5m.up");
    std::fs::write(&up, &big[..5 << 20]).expect("write");
    let back = r.site.path().join("5m.back");
    let code = r.curl(&[
        "-w",
        "%{http_code}",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", up.to_string_lossy()),
        "-o",
        &back.to_string_lossy(),
        &r.url("/echo"),
    ]);
    assert_eq!(code, "200");
    assert_eq!(
        sha256(r.client(), &back),
        sha256(r.client(), &up),
        "5 MiB chunked echo differs"
    );
    r.stop();
}
