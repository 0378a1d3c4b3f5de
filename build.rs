//! Bakes a RUNPATH to libtorch into every binary and test, so that
//! `target/release/harness` runs without exporting LD_LIBRARY_PATH.
//! RUNPATH (not RPATH) keeps an explicit LD_LIBRARY_PATH in charge, which a GPU host needs.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = Path::new(&libtorch).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!(
            "cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{}",
            lib.display()
        );
    }
}
