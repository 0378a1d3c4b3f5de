//! Bakes a RUNPATH to libtorch into every binary and test, so that
//! `target/release/harness` runs without exporting LD_LIBRARY_PATH.
//! RUNPATH (not RPATH) keeps an explicit LD_LIBRARY_PATH in charge, which a GPU host needs.
//!
//! Also compiles src/precision/autocast.cpp, the libtorch switches behind `train.precision`
//! (autocast to bfloat16, CUDA TF32) that the tch crate does not expose, against the same
//! libtorch headers and C++ ABI as torch-sys.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src/precision/autocast.cpp");
    let libtorch = PathBuf::from(
        std::env::var("LIBTORCH")
            .expect("LIBTORCH must name libtorch (scripts/setup.sh installs it; .cargo/config.toml sets it)"),
    );
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
        .file("src/precision/autocast.cpp")
        .include(libtorch.join("include"))
        .include(libtorch.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .warnings(false)
        .compile("harness_precision");
}
