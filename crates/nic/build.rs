//! Compiles the XDP programs in `xdp/` (workspace root) with clang into `$OUT_DIR/*.bpf.o`:
//! the steering program `boomerang.bpf.c`, which the driver embeds and loads with libbpf-rs,
//! and `bench_drop.bpf.c`, the kernel-ceiling baseline of the xskbench example.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The programs under `xdp/` to compile, by file stem.
const PROGRAMS: &[&str] = &["boomerang", "bench_drop"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-env-changed=CLANG");
    for name in PROGRAMS {
        let src = manifest.join(format!("../../xdp/{name}.bpf.c"));
        let out = out_dir.join(format!("{name}.bpf.o"));
        compile(&src, &out);
    }
}

fn compile(src: &std::path::Path, out: &std::path::Path) {
    println!("cargo:rerun-if-changed={}", src.display());
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".to_string());
    // Debian/Ubuntu keep <asm/types.h> under the multiarch directory (docs/operations.md).
    let multiarch = format!("-I/usr/include/{arch}-linux-gnu");
    let result = Command::new(&clang)
        .args([
            "-target", "bpf", "-O2", "-g", "-Wall", "-Werror", &multiarch, "-c",
        ])
        .arg(src)
        .arg("-o")
        .arg(out)
        .output();
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "error: boomerang-nic needs clang to compile its XDP program ({}), \
                 but `{clang}` was not found.\n\
                 Install it (Debian/Ubuntu: `apt-get install clang`) or set CLANG=/path/to/clang.",
                src.display()
            );
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("error: could not run `{clang}`: {e}");
            std::process::exit(1);
        }
        Ok(o) if !o.status.success() => {
            eprintln!(
                "error: `{clang}` failed to compile {} ({}):\n{}",
                src.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
            std::process::exit(1);
        }
        Ok(_) => {}
    }
}
