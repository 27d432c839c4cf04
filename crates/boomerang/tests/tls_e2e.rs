//! HTTPS against real peers: the `boomerang` binary with `--tls-cert`/`--tls-key` in a
//! server namespace (AF_XDP, and `--kernel`), curl and `openssl s_client` in the client
//! namespace behind a router namespace. Certificates are made in the test (rcgen; an RSA
//! one with the openssl command when it is installed). Needs root; skipped otherwise.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use boomerang::harness::{self, ServerProcess, TempDir, Topology};
use boomerang_nic::need_root;

const BIN: &str = env!("CARGO_BIN_EXE_boomerang");
/// Size of the download compared byte for byte, also under loss (the HTTPS goal: 20 MiB).
const BIG: usize = 20 << 20;

/// One certificate: files and the name it is for.
struct Cert {
    name: &'static str,
    crt: PathBuf,
    key: PathBuf,
}

fn rcgen_cert(dir: &Path, name: &'static str) -> Cert {
    let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&crt, c.cert.pem()).expect("write");
    std::fs::write(&key, c.signing_key.serialize_pem()).expect("write");
    Cert { name, crt, key }
}

/// An RSA certificate made by the openssl command, if it is installed.
fn openssl_rsa_cert(dir: &Path, name: &'static str) -> Option<Cert> {
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(Cert { name, crt, key })
}

struct Running {
    server: ServerProcess,
    topo: Topology,
    site: TempDir,
    certs: Vec<Cert>,
}

impl Running {
    /// Starts the server; `config` (TOML) goes to a `--config` file when given.
    fn start(tag: &str, kernel: bool, config: Option<&str>) -> Running {
        let site = TempDir::new(tag).expect("site dir");
        harness::write_site(site.path()).expect("site");
        std::fs::write(site.path().join("big.bin"), harness::pattern(BIG)).expect("big");
        let mut certs = vec![rcgen_cert(site.path(), "a.test")];
        certs.extend(openssl_rsa_cert(site.path(), "b.test"));
        let topo = Topology::new(tag, kernel).expect("topology");
        let mut args = if kernel {
            harness::kernel_serve_args(site.path())
        } else {
            harness::xdp_serve_args(site.path())
        };
        if let Some(text) = config {
            let path = site.path().join("serve.toml");
            std::fs::write(&path, text).expect("config");
            args.push("--config".into());
            args.push(path.to_string_lossy().into_owned());
        }
        for c in &certs {
            args.push("--tls-cert".into());
            args.push(c.crt.to_string_lossy().into_owned());
            args.push("--tls-key".into());
            args.push(c.key.to_string_lossy().into_owned());
        }
        let log = site.path().join("server.log");
        let server = ServerProcess::spawn(
            &topo.ns.server,
            "boomerang serve",
            None,
            Path::new(BIN),
            &args,
            &log,
        )
        .expect("spawn");
        let mut r = Running {
            server,
            topo,
            site,
            certs,
        };
        r.wait_ready();
        r
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.server.try_wait().expect("wait") {
                panic!("server exited ({status}):\n{}", self.server.log_tail(30));
            }
            let a = &self.certs[0];
            if self
                .try_curl(a, &["-o", "/dev/null", &self.url(a.name, "/plaintext")])
                .is_ok()
            {
                return;
            }
            assert!(
                start.elapsed() < harness::READY_TIMEOUT,
                "no HTTPS answer; log:\n{}",
                self.server.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn url(&self, name: &str, path: &str) -> String {
        format!("https://{name}:{}{path}", harness::PORT)
    }

    /// curl from the client namespace trusting `cert` and resolving its name to the server.
    fn try_curl(&self, cert: &Cert, args: &[&str]) -> std::io::Result<String> {
        let resolve = format!(
            "{}:{}:{}",
            cert.name,
            harness::PORT,
            self.topo.server_addr().ip()
        );
        let ca = cert.crt.to_string_lossy().into_owned();
        let mut all = vec![
            "-sS",
            "--max-time",
            "60",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
        ];
        all.extend_from_slice(args);
        self.topo.ns.client.run("curl", &all)
    }

    fn curl(&self, cert: &Cert, args: &[&str]) -> String {
        self.try_curl(cert, args).expect("curl")
    }

    /// `openssl s_client` from the client namespace: a GET with `Connection: close`, with
    /// extra options; returns its output.
    fn s_client(&self, cert: &Cert, extra: &[&str]) -> String {
        let connect = self.topo.server_addr().to_string();
        let ca = cert.crt.to_string_lossy().into_owned();
        let mut cmd = format!(
            "printf 'GET /plaintext HTTP/1.1\\r\\nHost: {n}\\r\\nConnection: close\\r\\n\\r\\n' | \
             timeout 20 openssl s_client -connect {connect} -servername {n} -CAfile {ca} \
             -alpn http/1.1 -ign_eof",
            n = cert.name
        );
        for e in extra {
            cmd.push(' ');
            cmd.push_str(e);
        }
        cmd.push_str(" 2>&1");
        self.topo
            .ns
            .client
            .run("sh", &["-c", &cmd])
            .expect("s_client")
    }

    fn metrics(&self) -> String {
        let a = &self.certs[0];
        self.curl(a, &[&self.url(a.name, "/metrics")])
    }
}

fn metric_line(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0)
}

fn https_basics(r: &Running) {
    for c in &r.certs {
        // Each curl trusts only the certificate its name must get: SNI picked it.
        let body = r.curl(c, &[&r.url(c.name, "/plaintext")]);
        assert_eq!(body, "Hello, World!", "{}", c.name);
        let v = r.curl(
            c,
            &[
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{ssl_verify_result}",
                &r.url(c.name, "/plaintext"),
            ],
        );
        assert_eq!(v, "1.1 0", "{}", c.name);
    }
    // The other certificate is refused by a client that trusts only one.
    if let [a, b, ..] = r.certs.as_slice() {
        let wrong = Cert {
            name: b.name,
            crt: a.crt.clone(),
            key: a.key.clone(),
        };
        assert!(r.try_curl(&wrong, &[&r.url(b.name, "/plaintext")]).is_err());
    }
    let a = &r.certs[0];
    // A multi-MiB download, compared byte for byte; and an upload echoed back.
    let out = r.site.path().join("big.out");
    let out_s = out.to_string_lossy().into_owned();
    r.curl(a, &["-o", &out_s, &r.url(a.name, "/big.bin")]);
    let got = std::fs::read(&out).expect("downloaded");
    assert!(
        got == harness::pattern(BIG),
        "download differs ({} bytes)",
        got.len()
    );
    let up = r.site.path().join("1m.bin").to_string_lossy().into_owned();
    let echo = r.site.path().join("echo.out");
    let echo_s = echo.to_string_lossy().into_owned();
    r.curl(
        a,
        &[
            "--data-binary",
            &format!("@{up}"),
            "-o",
            &echo_s,
            &r.url(a.name, "/echo"),
        ],
    );
    assert!(std::fs::read(&echo).expect("echo") == harness::pattern(harness::FILE_1M));
}

/// Python's `ssl` module as a third client: verifies the chain and the name, negotiates
/// `http/1.1`, reads the response until the server's close_notify.
fn python_ssl(r: &Running) {
    let a = &r.certs[0];
    let script = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(cafile={ca:?})
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(({addr:?}, {port}), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname={name:?}) as s:
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        print(s.version(), s.selected_alpn_protocol(), data.split(b"\r\n\r\n", 1)[1].decode())
"#,
        ca = a.crt.to_string_lossy(),
        addr = r.topo.server_addr().ip().to_string(),
        port = harness::PORT,
        name = a.name,
    );
    let out = r
        .topo
        .ns
        .client
        .run("python3", &["-c", &script])
        .expect("python3 ssl");
    assert_eq!(out.trim(), "TLSv1.3 http/1.1 Hello, World!");
}

fn resumption(r: &Running) {
    let a = &r.certs[0];
    let sess = r
        .site
        .path()
        .join("sess.pem")
        .to_string_lossy()
        .into_owned();
    for version in ["-tls1_3", "-tls1_2"] {
        let first = r.s_client(a, &[version, "-sess_out", &sess]);
        assert!(first.contains("Hello, World!"), "{first}");
        assert!(first.contains("New, TLSv1."), "{first}");
        assert!(first.contains("ALPN protocol: http/1.1"), "{first}");
        let again = r.s_client(a, &[version, "-sess_in", &sess]);
        assert!(again.contains("Reused, TLSv1."), "{version}: {again}");
        assert!(again.contains("Hello, World!"), "{again}");
    }
}

/// A client that sends five bytes of a handshake record and stalls is closed at the
/// `[tls] handshake-timeout` (1 s here) and counted.
fn stalled_handshake(r: &Running) {
    use std::io::{Read, Write};
    let addr = r.topo.server_addr();
    let closed = r
        .topo
        .ns
        .client
        .enter(move || {
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("connect");
            // A guard against a hang only: the server closes after about 1 s.
            s.set_read_timeout(Some(Duration::from_secs(30))).ok();
            s.write_all(&[22, 3, 1, 0, 200]).expect("write");
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).map(|_| rest)
        })
        .expect("enter");
    let rest = closed.expect("the server closes the stalled connection");
    assert!(rest.is_empty(), "{rest:?}");
    let m = r.metrics();
    assert_eq!(
        metric_line(
            &m,
            "boomerang_tls_handshakes_failed_total{reason=\"timeout\"}"
        ),
        1,
        "{m}"
    );
}

/// SIGHUP with new files in place of the old: a keep-alive connection opened before goes on
/// with the certificate it negotiated, new handshakes get the new certificate.
fn sighup_reload(r: &Running) {
    let a = &r.certs[0];
    let go = r.site.path().join("go");
    // A Python client: one request, then (once `go` exists) a second on the same connection.
    let script = format!(
        r#"
import os, socket, ssl, time
ctx = ssl.create_default_context(cafile={ca:?})
req = b"GET /plaintext HTTP/1.1\r\nHost: {name}\r\n\r\n"
def answer(s):
    data = b""
    while not data.endswith(b"Hello, World!"):
        data += s.recv(4096)
    return "ok"
with socket.create_connection(({addr:?}, {port}), timeout=30) as raw:
    with ctx.wrap_socket(raw, server_hostname={name:?}) as s:
        s.sendall(req)
        first = answer(s)
        print("first", first, flush=True)
        for _ in range(300):
            if os.path.exists({go:?}):
                break
            time.sleep(0.1)
        s.sendall(req)
        print("second", answer(s), flush=True)
"#,
        ca = a.crt.to_string_lossy(),
        addr = r.topo.server_addr().ip().to_string(),
        port = harness::PORT,
        name = a.name,
        go = go.to_string_lossy(),
    );
    let out_path = r.site.path().join("python.out");
    let out = std::fs::File::create(&out_path).expect("out");
    let mut child = r
        .topo
        .ns
        .client
        .command("python3")
        .args(["-c", &script])
        .stdout(out)
        .spawn()
        .expect("python3");
    let start = Instant::now();
    while !std::fs::read_to_string(&out_path)
        .unwrap_or_default()
        .contains("first ok")
    {
        assert!(start.elapsed() < Duration::from_secs(20), "no first answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    let old = Cert {
        name: a.name,
        crt: r.site.path().join("old.crt"),
        key: a.key.clone(),
    };
    std::fs::copy(&a.crt, &old.crt).expect("copy");
    let _ = rcgen_cert(r.site.path(), a.name);
    r.server.signal("HUP").expect("SIGHUP");
    let start = Instant::now();
    while r.try_curl(a, &[&r.url(a.name, "/plaintext")]).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no reload:\n{}",
            r.server.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(r.try_curl(&old, &[&r.url(a.name, "/plaintext")]).is_err());
    assert!(r.server.log_tail(50).contains("TLS certificates reloaded"));
    // The connection from before the reload answers its second request.
    std::fs::write(&go, b"").expect("go");
    let status = child.wait().expect("python3 ends");
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(status.success(), "{text}");
    assert_eq!(text, "first ok\nsecond ok\n");
}

/// A TLS 1.2 renegotiation attempt (s_client's `R` command): refused with rustls's
/// `no_renegotiation` warning; the client gives up, the server serves on.
fn renegotiation(r: &Running) {
    let a = &r.certs[0];
    let cmd = format!(
        "printf 'R\\n' | timeout 20 openssl s_client -tls1_2 -connect {} -servername {} -CAfile {} 2>&1; true",
        r.topo.server_addr(),
        a.name,
        a.crt.to_string_lossy()
    );
    let out = r
        .topo
        .ns
        .client
        .run("sh", &["-c", &cmd])
        .unwrap_or_else(|e| e.to_string());
    assert!(out.contains("RENEGOTIATING"), "{out}");
    assert!(out.contains("no renegotiation"), "{out}");
    assert!(r.server.pid().is_some());
    assert_eq!(r.curl(a, &[&r.url(a.name, "/plaintext")]), "Hello, World!");
}

fn openssl_installed() -> bool {
    std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The plain-HTTP port redirected to HTTPS (`[tls] redirect-port`).
const REDIRECT_PORT: u16 = 8081;

/// The redirect listener: GET gets 301 to the same host and target over HTTPS, POST 308
/// (curl follows both, repeating the POST with its body), and a request to it is never
/// served there.
fn redirect(r: &Running) {
    let a = &r.certs[0];
    let resolve = format!("{}:{REDIRECT_PORT}:{}", a.name, r.topo.server_addr().ip());
    let plain = format!("http://{}:{REDIRECT_PORT}", a.name);
    // curl to the plain port with `args`: without -L the status and where it points.
    let to_plain = |path: &str, args: &[&str]| {
        let url = format!("{plain}{path}");
        let mut all = vec!["--resolve", &resolve];
        if !args.contains(&"-L") {
            all.extend(["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"]);
        }
        all.extend_from_slice(args);
        all.push(&url);
        r.curl(a, &all)
    };
    let get = to_plain("/plaintext?x=1", &[]);
    assert_eq!(get, format!("301 {}", r.url(a.name, "/plaintext?x=1")));
    assert_eq!(to_plain("/plaintext", &["-L"]), "Hello, World!");
    let post = to_plain("/echo", &["--data-binary", "body"]);
    assert_eq!(post, format!("308 {}", r.url(a.name, "/echo")));
    let echoed = to_plain("/echo", &["-L", "--data-binary", "the body again"]);
    assert_eq!(echoed, "the body again");
}

#[test]
fn https_over_af_xdp_with_sni_resumption_and_bad_input_counted() {
    need_root!();
    let redirect_port = format!("[tls]\nredirect-port = {REDIRECT_PORT}\n");
    let r = Running::start("tlsx", false, Some(&redirect_port));
    redirect(&r);
    https_basics(&r);
    python_ssl(&r);
    if openssl_installed() {
        resumption(&r);
        renegotiation(&r);
    } else {
        eprintln!("openssl not installed: resumption with s_client not checked");
    }
    // Plain HTTP to the HTTPS port: refused, counted, and the server serves on.
    let addr = r.topo.server_addr();
    let plain = r.topo.ns.client.run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "10",
            &format!("http://{addr}/plaintext"),
        ],
    );
    assert!(plain.is_err(), "{plain:?}");
    let m = r.metrics();
    assert!(
        metric_line(&m, "boomerang_tls_handshakes_total{version=\"1.3\"}") >= 4,
        "{m}"
    );
    assert!(
        metric_line(
            &m,
            "boomerang_tls_handshakes_failed_total{reason=\"bad_message\"}"
        ) >= 1,
        "{m}"
    );
    if openssl_installed() {
        assert!(metric_line(&m, "boomerang_tls_resumed_total") >= 2, "{m}");
        assert!(
            metric_line(&m, "boomerang_tls_handshakes_total{version=\"1.2\"}") >= 2,
            "{m}"
        );
    }
    assert_eq!(
        r.curl(&r.certs[0], &[&r.url(r.certs[0].name, "/plaintext")]),
        "Hello, World!"
    );
    sighup_reload(&r);
}

#[test]
fn https_on_kernel_sockets() {
    need_root!();
    // The handshake deadline from the file's [tls] table, the certificates from flags.
    let config = format!("[tls]\nhandshake-timeout = \"1s\"\nredirect-port = {REDIRECT_PORT}\n");
    let r = Running::start("tlsk", true, Some(&config));
    redirect(&r);
    https_basics(&r);
    stalled_handshake(&r);
    python_ssl(&r);
    if openssl_installed() {
        resumption(&r);
    }
}

/// 2% loss both ways and 1% duplication towards the server, in the router (nftables,
/// forward hook).
fn impair(r: &Running) {
    let server = r.topo.server_addr().ip();
    let rules = format!(
        "table ip bmrtlsimpair {{\n chain impair {{\n  type filter hook forward priority 0; policy accept;\n  numgen random mod 1000 < 20 drop\n  ip daddr {server} numgen random mod 1000 < 10 dup to {server} device \"vs\"\n }}\n}}\n"
    );
    let path = r.site.path().join("impair.nft");
    std::fs::write(&path, rules).expect("rules");
    r.topo
        .ns
        .router
        .run("nft", &["-f", &path.to_string_lossy()])
        .expect("nft");
}

#[test]
fn https_download_and_upload_are_byte_exact_under_loss() {
    need_root!();
    let r = Running::start("tlsl", false, None);
    impair(&r);
    let a = &r.certs[0];
    let out = r.site.path().join("big.out");
    let out_s = out.to_string_lossy().into_owned();
    r.curl(a, &["-o", &out_s, &r.url(a.name, "/big.bin")]);
    assert!(
        std::fs::read(&out).expect("downloaded") == harness::pattern(BIG),
        "download differs"
    );
    let up = r.site.path().join("5m.up");
    std::fs::write(&up, &harness::pattern(BIG)[..5 << 20]).expect("write");
    let back = r.site.path().join("5m.back");
    let (up_s, back_s) = (
        format!("@{}", up.to_string_lossy()),
        back.to_string_lossy().into_owned(),
    );
    r.curl(
        a,
        &[
            "--data-binary",
            &up_s,
            "-o",
            &back_s,
            &r.url(a.name, "/echo"),
        ],
    );
    assert!(
        std::fs::read(&back).expect("echoed") == harness::pattern(BIG)[..5 << 20],
        "upload differs"
    );
    // The impairment was real: the stack retransmitted (counters publish every 100 ms).
    let start = Instant::now();
    loop {
        let m = r.metrics();
        let resent = m
            .lines()
            .filter_map(|l| l.strip_prefix("boomerang_stack_tcp_retransmitted_segments_total"))
            .filter_map(|rest| rest.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
        if resent > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no retransmission:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
