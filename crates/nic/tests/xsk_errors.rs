//! Bad configurations give clear, typed errors and leave no XDP program behind.

mod xsk_util;

use std::process::Stdio;
use std::time::Duration;

use boomerang_nic::netns::Pair;
use boomerang_nic::xsk::{BindMode, XdpConfig, XdpMode, XdpSetup, XskError};

/// Opens `cfg` inside the server namespace and returns the error (or "ok").
fn open_err(pair: &Pair, cfg: XdpConfig) -> Option<XskError> {
    pair.server
        .enter(move || XdpSetup::open(&cfg).err())
        .expect("enter")
}

#[test]
fn configuration_errors_are_typed_and_clear() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xe", 2, false).expect("namespaces");

    let e = open_err(&pair, XdpConfig::new("bmrnosuch0")).expect("missing interface");
    assert!(
        matches!(e, XskError::NoSuchInterface(ref n) if n == "bmrnosuch0"),
        "{e}"
    );
    assert!(e.to_string().contains("does not exist"), "{e}");

    let mut cfg = XdpConfig::new(Pair::IFNAME);
    cfg.queues = vec![2];
    let e = open_err(&pair, cfg).expect("queue out of range");
    assert!(
        matches!(
            e,
            XskError::QueueOutOfRange {
                queue: 2,
                available: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("has 2 RX queue(s)"), "{e}");

    let mut cfg = XdpConfig::new(Pair::IFNAME);
    cfg.frame_size = 1000;
    let e = open_err(&pair, cfg).expect("bad frame size");
    assert!(matches!(e, XskError::InvalidConfig(_)), "{e}");

    let mut cfg = XdpConfig::new(Pair::IFNAME);
    cfg.queues = vec![0, 0];
    let e = open_err(&pair, cfg).expect("duplicate queue");
    assert!(matches!(e, XskError::InvalidConfig(_)), "{e}");

    // veth has no zero-copy support: forcing it fails, `auto` falls back (other tests).
    let mut cfg = XdpConfig::new(Pair::IFNAME);
    cfg.bind_mode = BindMode::ZeroCopy;
    let e = open_err(&pair, cfg).expect("zero-copy on veth");
    assert!(matches!(e, XskError::ZeroCopyUnsupported(_)), "{e}");
    assert!(
        xsk_util::xdp_gone_within(&pair.server, Pair::IFNAME, Duration::from_secs(3)),
        "program left behind"
    );
}

#[test]
fn a_second_program_on_the_same_interface_is_refused() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xb", 2, false).expect("namespaces");
    let r = pair
        .server
        .enter(|| {
            let mut first = XdpConfig::new(Pair::IFNAME);
            first.frame_count = 128;
            first.ring_size = 64;
            let a = XdpSetup::open(&first).map_err(|e| e.to_string())?;
            let mut second = first.clone();
            second.queues = vec![1];
            second.xdp_mode = XdpMode::Native;
            let e = XdpSetup::open(&second).err();
            drop(a);
            Ok::<_, String>(e)
        })
        .expect("enter")
        .expect("first setup");
    let e = r.expect("second program refused");
    assert!(matches!(e, XskError::XdpBusy(_)), "{e}");
    assert!(
        xsk_util::xdp_gone_within(&pair.server, Pair::IFNAME, Duration::from_secs(3)),
        "program left behind"
    );
}

/// The effective capability set of this process, from /proc/self/status.
fn effective_caps() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// Without privilege, opening AF_XDP fails with an error that says what is missing. As an
/// unprivileged user (no capabilities at all, so nothing can be attached) this opens the
/// loopback interface directly; as root it runs the responder as `nobody` with every
/// capability dropped, inside a namespace.
#[test]
fn without_root_the_error_says_so() {
    if effective_caps() == Some(0) {
        let e = XdpSetup::open(&XdpConfig::new("lo"))
            .expect_err("an unprivileged process opened AF_XDP");
        assert!(e.is_permission_denied(), "{e}");
        let text = e.to_string();
        assert!(text.contains("permission denied"), "{text}");
        assert!(text.contains("need root"), "{text}");
        return;
    }
    boomerang_nic::need_root!();
    let pair = Pair::new("xn", 1, false).expect("namespaces");
    // A copy `nobody` can execute wherever the target directory lives (e.g. under /root).
    let dir = std::env::temp_dir().join(boomerang_nic::netns::unique_name("xn"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let responder = dir.join("responder");
    std::fs::copy(xsk_util::example("responder"), &responder).expect("copy responder");
    for p in [&dir, &responder] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    // The responder as user `nobody` with no capabilities.
    let out = pair
        .server
        .command("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(&responder)
        .args(["--iface", Pair::IFNAME, "--addr", "198.18.0.2/24"])
        .stdin(Stdio::null())
        .output()
        .expect("run responder unprivileged");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("need root"), "{err}");
}
