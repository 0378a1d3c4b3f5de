//! Bakes a RUNPATH to libtorch into every binary and test, so that
//! `target/release/harness` runs without exporting LD_LIBRARY_PATH.
//! RUNPATH (not RPATH) keeps an explicit LD_LIBRARY_PATH in charge, which a GPU host needs.
//!
//! Also compiles src/native/libtorch.cpp (what harness needs of libtorch that tch does not
//! expose: autocast to bfloat16, CUDA TF32, the allocator's peak) against the same libtorch
//! headers and C++ ABI as torch-sys.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src/native/libtorch.cpp");
    let libtorch = PathBuf::from(std::env::var("LIBTORCH").expect(
        "LIBTORCH must name libtorch (scripts/setup.sh installs it; .cargo/config.toml sets it)",
    ));
    let lib = libtorch.join("lib");
    let lib = lib.canonicalize().unwrap_or(lib);
    println!(
        "cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{}",
        lib.display()
    );
    compile_shim(&libtorch);
}

fn compile_shim(libtorch: &Path) {
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    cc::Build::new()
        .cpp(true)
        .file("src/native/libtorch.cpp")
        .include(libtorch.join("include"))
        .include(libtorch.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .warnings(false)
        .compile("harness_native");
}
