//! netsim rejects bad settings and missing interfaces with clear errors.

mod netsim_util;

use std::process::Command;

use boomerang_nic::netns::Netns;
use netsim_util::netsim_path;

fn netsim_fails(args: &[&str]) -> String {
    let out = Command::new(netsim_path())
        .args(args)
        .output()
        .expect("run netsim");
    assert!(!out.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_values_are_rejected_before_opening_anything() {
    let err = netsim_fails(&["--a", "x", "--b", "y", "--loss", "150%"]);
    assert!(err.contains("at most 100%"), "{err}");
    let err = netsim_fails(&["--a", "x", "--b", "y", "--delay", "10"]);
    assert!(err.contains("unit must be"), "{err}");
    let err = netsim_fails(&["--a", "x", "--b", "y", "--rate", "fast"]);
    assert!(err.contains("expected a number"), "{err}");
    let err = netsim_fails(&["--a", "x", "--b", "y", "--io", "dpdk"]);
    assert!(err.contains("invalid value 'dpdk'"), "{err}");
}

#[test]
fn missing_interface_is_named() {
    boomerang_nic::need_root!();
    let ns = Netns::new("ncl").expect("namespace");
    let out = ns
        .command(netsim_path().to_str().expect("path"))
        .args(["--a", "nope0", "--b", "nope1", "--io", "packet"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope0") && err.contains("no interface"),
        "{err}"
    );
}
