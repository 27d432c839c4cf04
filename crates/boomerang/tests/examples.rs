//! Every example in crates/boomerang/examples, built on demand and started as its own
//! process over kernel sockets (`--kernel --listen 127.0.0.1:<free port>`, the flags of
//! `boomerang serve`), answers what its docs promise.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{request, wait_listening};

/// A running example; killed (by its PID) and reaped on drop.
struct Example {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Example {
    fn start(name: &str) -> Example {
        let exe = boomerang_nic::netns::built_example(name).expect("build the example");
        let addr = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
        let log = std::env::temp_dir().join(format!(
            "boomerang-example-{name}-{}.log",
            std::process::id()
        ));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(&exe)
            .args(["--kernel", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start the example");
        let mut ex = Example { child, addr, log };
        wait_listening(addr, || matches!(ex.child.try_wait(), Ok(None)));
        ex
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

#[test]
fn hello_says_hello() {
    let ex = Example::start("hello");
    let r = request(ex.addr, "GET", "/", b"");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = request(ex.addr, "HEAD", "/", b"");
    assert_eq!((r.status, r.header("content-length")), (200, Some("13")));
    assert!(r.body.is_empty());
    let r = request(ex.addr, "POST", "/", b"");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(request(ex.addr, "GET", "/nope", b"").status, 404);
    let m = request(ex.addr, "GET", "/metrics", b"");
    assert!(
        m.text().contains("boomerang_http_handler_panics_total"),
        "{}",
        m.text()
    );
}

#[test]
fn json_serialises_the_message() {
    let ex = Example::start("json");
    for _ in 0..3 {
        let r = request(ex.addr, "GET", "/json", b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
        assert_eq!(v, serde_json::json!({"message": "Hello, World!"}));
        assert_eq!(r.body, br#"{"message":"Hello, World!"}"#);
    }
}

#[test]
fn rest_creates_reads_updates_deletes() {
    let ex = Example::start("rest");
    let a = ex.addr;
    let r = request(a, "POST", "/items", br#"{"name":"tea","price":3}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let item: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        item,
        serde_json::json!({"id": 1, "name": "tea", "price": 3})
    );
    let r = request(a, "POST", "/items", br#"{"name":"cake","price":5}"#);
    assert_eq!(r.status, 201);

    let r = request(a, "GET", "/items/1", b"");
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/json"))
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        item
    );

    let r = request(a, "PUT", "/items/2", br#"{"name":"pie","price":7}"#);
    assert_eq!(r.text(), r#"{"id":2,"name":"pie","price":7}"#);
    let r = request(a, "GET", "/items", b"");
    let all: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");

    assert_eq!(request(a, "DELETE", "/items/1", b"").status, 204);
    let r = request(a, "GET", "/items/1", b"");
    assert_eq!((r.status, r.text().as_str()), (404, "no item 1\n"));

    // Errors of the handlers map to statuses; the router's own 404 and 405.
    assert_eq!(request(a, "POST", "/items", b"{nope").status, 400);
    assert_eq!(request(a, "GET", "/items/abc", b"").status, 400);
    let r = request(a, "PATCH", "/items/2", b"");
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, HEAD, PUT, DELETE"))
    );
    assert_eq!(request(a, "GET", "/items/", b"").status, 404);
    assert_eq!(request(a, "GET", "/items/2/x", b"").status, 404);
    assert_eq!(request(a, "GET", "/elsewhere", b"").status, 404);

    // The blocking handler writes the snapshot and says where.
    let r = request(a, "POST", "/export", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["items"], 1);
    let path = v["path"].as_str().expect("path").to_string();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the export file")).unwrap();
    assert_eq!(
        written,
        serde_json::json!([{"id": 2, "name": "pie", "price": 7}])
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn static_site_serves_its_files_and_its_route() {
    let ex = Example::start("static_site");
    let a = ex.addr;
    let public = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/static_site/public");
    let r = request(a, "GET", "/", b"");
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/html; charset=utf-8"))
    );
    assert_eq!(
        r.body,
        std::fs::read(format!("{public}/index.html")).unwrap()
    );
    let r = request(a, "GET", "/css/site.css", b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/css"));
    assert_eq!(
        r.body,
        std::fs::read(format!("{public}/css/site.css")).unwrap()
    );
    assert!(r.header("etag").is_some());
    // Twice: the second answer comes from the file cache.
    assert_eq!(request(a, "GET", "/css/site.css", b"").body, r.body);
    let r = request(a, "GET", "/api/hello", b"");
    assert_eq!(r.text(), r#"{"hello":"from a handler"}"#);
    assert_eq!(request(a, "GET", "/missing.html", b"").status, 404);
    // A directory without its slash is redirected within the mount.
    let r = request(a, "GET", "/css", b"");
    assert_eq!((r.status, r.header("location")), (301, Some("/css/")));
    // Dot-segments never leave the mounted directory.
    for t in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/css/../../Cargo.toml",
    ] {
        assert_eq!(request(a, "GET", t, b"").status, 404, "{t}");
    }
    assert_eq!(request(a, "DELETE", "/index.html", b"").status, 405);
}

/// `hello` and `json` over AF_XDP: each example in the server namespace of a routed
/// topology (namespaces `bmrapi…`, 198.18.0.0/15, torn down on drop), the kernel's TCP as
/// the client in another namespace.
#[test]
fn hello_and_json_answer_over_af_xdp() {
    use boomerang::harness::{self, ServerProcess, TempDir, Topology};
    boomerang_nic::need_root!();
    for (name, path, want) in [
        ("hello", "/", &b"Hello, World!"[..]),
        ("json", "/json", &br#"{"message":"Hello, World!"}"#[..]),
    ] {
        let exe = boomerang_nic::netns::built_example(name).expect("build the example");
        let site = TempDir::new("apix").expect("scratch dir");
        let topo = Topology::new("apix", false).expect("topology");
        // The flags of `boomerang serve` on AF_XDP, without the subcommand.
        let access = site.path().join("access.log");
        let mut args: Vec<String> = harness::xdp_serve_args(site.path())
            .into_iter()
            .skip(1)
            .collect();
        args.extend(["--access-log".to_string(), access.display().to_string()]);
        let log = site.path().join("server.log");
        let mut server =
            ServerProcess::spawn(&topo.ns.server, name, None, &exe, &args, &log).expect("spawn");
        let never = AtomicBool::new(false);
        server
            .wait_ready(&topo.ns.client, topo.server_addr(), path, &never)
            .expect("the example answers over AF_XDP");
        let addr = topo.server_addr();
        let p = path.to_string();
        let (status, body) = topo
            .ns
            .client
            .enter(move || harness::http_get(addr, &p, Duration::from_secs(10)))
            .expect("enter the client namespace")
            .expect("GET over AF_XDP");
        assert_eq!((status, body.as_slice()), (200, want), "{name}");
        let (status, _) = topo
            .ns
            .client
            .enter(move || harness::http_get(addr, "/nope", Duration::from_secs(10)))
            .expect("enter")
            .expect("GET");
        assert_eq!(status, 404, "{name}");
        // A clean stop hands every access-log line to the writer, which finishes the file.
        let (exit, by_itself) = server.stop(Duration::from_secs(20)).expect("stop");
        assert!(exit.success() && by_itself, "{name}: {exit}");
        let log = std::fs::read_to_string(&access).expect("the access log");
        let client = format!("{} - - [", boomerang_nic::netns::Routed::CLIENT_ADDR);
        let tail: Vec<&str> = log.lines().rev().take(2).collect();
        assert!(tail[0].starts_with(&client), "{log}");
        assert!(tail[0].contains("\"GET /nope HTTP/1.1\" 404 10 "), "{log}");
        assert!(
            tail[1].contains(&format!("\"GET {path} HTTP/1.1\" 200 {} ", want.len())),
            "{log}"
        );
    }
}

/// 20 MiB, the size of the streamed bodies below.
const STREAMED: usize = 20 * 1024 * 1024;

/// FNV-1a 64 of `data`, as the `streaming` example computes it.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The `streaming` example's bytes: byte `i` is `i % 251`.
fn streamed_pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Against the `streaming` example at `addr`, over the kernel's TCP of the calling thread's
/// namespace: 20 MiB uploaded with Content-Length and chunked, hashed by the handler as it
/// reads; 20 MiB downloaded with Content-Length and chunked; all compared by hash.
fn stream_20_mib_both_ways(addr: SocketAddr) {
    let body = streamed_pattern(STREAMED);
    let want = format!("{STREAMED} {:016x}\n", fnv1a(&body));
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {STREAMED}\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let r = common::exchange(addr, &raw, false);
    assert_eq!((r[0].status, r[0].text()), (200, want.clone()));
    let mut raw =
        b"PUT /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in body.chunks(100_003) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = common::exchange(addr, &raw, false);
    assert_eq!((r[0].status, r[0].text()), (200, want));
    for (target, chunked) in [
        (format!("/download/{STREAMED}"), false),
        (format!("/download/{STREAMED}?chunked"), true),
    ] {
        let r = request(addr, "GET", &target, b"");
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.header("transfer-encoding").is_some(), chunked, "{target}");
        assert_eq!(
            (r.body.len(), fnv1a(&r.body)),
            (STREAMED, fnv1a(&body)),
            "{target}"
        );
    }
}

#[test]
fn streaming_moves_20_mib_both_ways_and_serves_files_and_shared_buffers() {
    let ex = Example::start("streaming");
    stream_20_mib_both_ways(ex.addr);
    let r = request(ex.addr, "GET", "/source", b"");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/streaming.rs");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, std::fs::read(source).unwrap());
    // Twice: the second answer comes from the file cache.
    assert_eq!(request(ex.addr, "GET", "/source", b"").body, r.body);
    let r = request(ex.addr, "HEAD", "/source", b"");
    assert_eq!(
        r.header("content-length").map(str::to_string),
        Some(std::fs::metadata(source).unwrap().len().to_string())
    );
    let r = request(ex.addr, "GET", "/banner", b"");
    assert_eq!(r.text(), "boomerang streams bodies both ways\n");
    assert_eq!(request(ex.addr, "GET", "/download/x", b"").status, 400);
}

/// The `streaming` example over AF_XDP (namespaces `bmras…`, 198.18.0.0/15, torn down on
/// drop), the kernel's TCP as the client: 20 MiB both ways, byte-exact.
#[test]
fn streaming_moves_20_mib_both_ways_over_af_xdp() {
    use boomerang::harness::{self, ServerProcess, TempDir, Topology};
    boomerang_nic::need_root!();
    let exe = boomerang_nic::netns::built_example("streaming").expect("build the example");
    let site = TempDir::new("as").expect("scratch dir");
    let topo = Topology::new("as", false).expect("topology");
    let args: Vec<String> = harness::xdp_serve_args(site.path())
        .into_iter()
        .skip(1)
        .collect();
    let log = site.path().join("server.log");
    let mut server =
        ServerProcess::spawn(&topo.ns.server, "streaming", None, &exe, &args, &log).expect("spawn");
    let never = AtomicBool::new(false);
    server
        .wait_ready(&topo.ns.client, topo.server_addr(), "/banner", &never)
        .expect("the example answers over AF_XDP");
    let addr = topo.server_addr();
    let moved = topo.ns.client.enter(move || stream_20_mib_both_ways(addr));
    if moved.is_err() {
        panic!(
            "20 MiB both ways over AF_XDP failed; server log:\n{}",
            server.log_tail(30)
        );
    }
    let (exit, by_itself) = server.stop(Duration::from_secs(20)).expect("stop");
    assert!(exit.success() && by_itself, "{exit}");
}
