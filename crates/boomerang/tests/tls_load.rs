//! Load over HTTPS against `boomerang serve --tls-cert … --tls-key …` on AF_XDP in the
//! server namespace: `boomerang load --url https://… --cacert FILE` from the client
//! namespace (keep-alive, `--close` with full handshakes, `--close --resume` with resumed
//! ones, a CA that does not match, and the load client on our own stack over AF_XDP), its
//! handshake counts checked against the server's `/metrics`; and wrk over https (bounded, a
//! few connections). The certificate is made in the test (rcgen, ECDSA P-256, for the
//! server's address). Needs root; skipped otherwise.

use std::path::{Path, PathBuf};

use boomerang::harness::{self, ServerProcess, TempDir, Topology};
use boomerang::load::{Resumption, TlsClient};
use boomerang_nic::need_root;
use boomerang_nic::netns::Routed;

const BIN: &str = env!("CARGO_BIN_EXE_boomerang");

struct Https {
    server: ServerProcess,
    topo: Topology,
    site: TempDir,
    ca: PathBuf,
}

/// A self-signed certificate for the server's address; returns (certificate, key) files.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let c =
        rcgen::generate_simple_self_signed(vec![Routed::SERVER_ADDR.to_string()]).expect("rcgen");
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&crt, c.cert.pem()).expect("write");
    std::fs::write(&key, c.signing_key.serialize_pem()).expect("write");
    (crt, key)
}

impl Https {
    fn start(tag: &str) -> Https {
        let site = TempDir::new(tag).expect("site dir");
        harness::write_site(site.path()).expect("site");
        let (ca, key) = certificate(site.path(), "server");
        let topo = Topology::new(tag, false).expect("topology");
        let mut args = harness::xdp_serve_args(site.path());
        for (flag, file) in [("--tls-cert", &ca), ("--tls-key", &key)] {
            args.push(flag.into());
            args.push(file.to_string_lossy().into_owned());
        }
        let log = site.path().join("server.log");
        let mut server = ServerProcess::spawn(
            &topo.ns.server,
            "boomerang serve",
            None,
            Path::new(BIN),
            &args,
            &log,
        )
        .expect("spawn");
        let probe =
            TlsClient::from_ca_file(&ca, &Routed::SERVER_ADDR.to_string(), Resumption::Full)
                .expect("client");
        let never = std::sync::atomic::AtomicBool::new(false);
        server
            .wait_ready_tls(
                &topo.ns.client,
                topo.server_addr(),
                "/plaintext",
                Some(&probe),
                &never,
            )
            .expect("the server answers over HTTPS");
        Https {
            server,
            topo,
            site,
            ca,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.topo.server_addr())
    }

    /// `boomerang load --url https://…/plaintext --cacert CA ARGS…` in the client namespace.
    fn load(&self, ca: &Path, args: &[&str]) -> Load {
        let url = self.url("/plaintext");
        let ca = ca.to_string_lossy().into_owned();
        let mut all = vec!["load", "--url", &url, "--cacert", &ca, "--timeout", "10s"];
        all.extend_from_slice(args);
        let out = self.topo.ns.client.run(BIN, &all).expect("boomerang load");
        Load::parse(&out)
    }

    /// One counter of the server's `/metrics` (fetched over HTTPS), summed over its labels.
    fn metric(&self, name: &str) -> u64 {
        let probe =
            TlsClient::from_ca_file(&self.ca, &Routed::SERVER_ADDR.to_string(), Resumption::Full)
                .expect("client");
        let addr = self.topo.server_addr();
        let (status, body) = self
            .topo
            .ns
            .client
            .enter(move || {
                harness::https_get(addr, "/metrics", &probe, std::time::Duration::from_secs(5))
            })
            .expect("enter")
            .expect("metrics");
        assert_eq!(status, 200);
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter(|l| l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

/// What `boomerang load` printed.
#[derive(Debug)]
struct Load {
    text: String,
    requests: u64,
    errors: u64,
    tls_errors: u64,
    full: u64,
    resumed: u64,
}

impl Load {
    fn parse(text: &str) -> Load {
        let number_before = |line: &str, word: &str| -> Option<u64> {
            let at = line.find(word)?;
            line[..at].split_whitespace().last()?.parse().ok()
        };
        let line = |start: &str| text.lines().find(|l| l.starts_with(start)).unwrap_or("");
        let errors = line("Errors: ");
        let handshakes = line("TLS handshakes: ");
        Load {
            requests: number_before(text.lines().next().unwrap_or(""), " requests in")
                .unwrap_or_else(|| panic!("no request count:\n{text}")),
            errors: errors
                .strip_prefix("Errors: ")
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
                .unwrap_or_else(|| panic!("no error count:\n{text}")),
            tls_errors: errors
                .rsplit_once("tls ")
                .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
                .unwrap_or_else(|| panic!("no TLS error count:\n{text}")),
            full: number_before(handshakes, " full").unwrap_or(0),
            resumed: number_before(handshakes, " resumed").unwrap_or(0),
            text: text.to_string(),
        }
    }
}

#[test]
fn load_over_https_counts_full_and_resumed_handshakes() {
    need_root!();
    let r = Https::start("tlg");
    let ca = r.ca.clone();

    // Keep-alive: one full handshake per connection, every request answered.
    let l = r.load(&ca, &["-c", "4", "-n", "400", "-d", "60s"]);
    assert_eq!((l.requests, l.errors), (400, 0), "{}", l.text);
    assert_eq!((l.full, l.resumed), (4, 0), "{}", l.text);

    // A new connection per request, nothing kept: a full handshake each.
    let l = r.load(&ca, &["-c", "4", "-n", "200", "-d", "60s", "--close"]);
    assert_eq!((l.requests, l.errors), (200, 0), "{}", l.text);
    assert!(l.full >= 200 && l.resumed == 0, "{}", l.text);
    let resumed_before = r.metric("boomerang_tls_resumed_total");

    // With the tickets kept, only the first connections (before any ticket came) are full.
    let l = r.load(
        &ca,
        &["-c", "4", "-n", "200", "-d", "60s", "--close", "--resume"],
    );
    assert_eq!((l.requests, l.errors), (200, 0), "{}", l.text);
    assert!(l.full <= 8, "{}", l.text);
    assert!(l.resumed >= 192, "{}", l.text);
    // The server saw them as resumed too.
    let resumed = r.metric("boomerang_tls_resumed_total") - resumed_before;
    assert!(
        resumed >= l.resumed,
        "server {resumed}, client:\n{}",
        l.text
    );

    // A CA the server's certificate does not chain to: no request gets through.
    let (other, _) = certificate(r.site.path(), "other");
    let l = r.load(&other, &["-c", "2", "-d", "1s"]);
    assert_eq!(l.requests, 0, "{}", l.text);
    assert!(l.tls_errors > 0 && l.errors == l.tls_errors, "{}", l.text);

    // The load client on our own stack over AF_XDP, resuming.
    let addr = format!("{}/{}", harness::STACK_CLIENT_ADDR, Routed::PREFIX);
    let gateway = Routed::ROUTER_CLIENT_ADDR.to_string();
    let l = r.load(
        &ca,
        &[
            "-c",
            "4",
            "-n",
            "200",
            "-d",
            "60s",
            "--close",
            "--resume",
            "--iface",
            "veth0",
            "--addr",
            &addr,
            "--gateway",
            &gateway,
        ],
    );
    assert_eq!((l.requests, l.errors), (200, 0), "{}", l.text);
    assert!(l.resumed >= 192, "{}", l.text);
    assert!(r.server.pid().is_some());
}

/// The request count of wrk's summary (`N requests in …`).
fn wrk_requests(out: &str) -> u64 {
    out.lines()
        .find_map(|l| {
            l.split_once(" requests in ")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{out}"))
}

#[test]
fn wrk_over_https() {
    need_root!();
    if !harness::wrk_installed() {
        eprintln!("skipped: wrk not installed");
        return;
    }
    let r = Https::start("twrk");
    let url = r.url("/plaintext");
    let before = r.metric("boomerang_tls_handshakes_total");
    let out = r
        .topo
        .ns
        .client
        .run("wrk", &["-t1", "-c8", "-d2s", "--timeout", "5s", &url])
        .expect("wrk");
    assert!(wrk_requests(&out) > 0, "{out}");
    assert!(!out.contains("Socket errors"), "{out}");
    assert!(!out.contains("Non-2xx"), "{out}");
    // wrk made its eight handshakes (and the probe of `metric` one more).
    let full = r.metric("boomerang_tls_handshakes_total") - before;
    assert!(full >= 8, "{full} handshakes:\n{out}");

    // A new connection per request: one handshake each (full or resumed).
    let before = r.metric("boomerang_tls_handshakes_total");
    let resumed_before = r.metric("boomerang_tls_resumed_total");
    let out = r
        .topo
        .ns
        .client
        .run(
            "wrk",
            &[
                "-t1",
                "-c4",
                "-d2s",
                "--timeout",
                "5s",
                "-H",
                "Connection: close",
                &url,
            ],
        )
        .expect("wrk");
    let requests = wrk_requests(&out);
    assert!(requests > 0, "{out}");
    assert!(!out.contains("Non-2xx"), "{out}");
    let handshakes = r.metric("boomerang_tls_handshakes_total") - before;
    let resumed = r.metric("boomerang_tls_resumed_total") - resumed_before;
    assert!(handshakes >= requests, "{handshakes} handshakes:\n{out}");
    eprintln!("wrk with Connection: close: {requests} requests, {handshakes} handshakes, {resumed} resumed");
}
