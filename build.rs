//! Tells the test suites where the real radiographs are, at compile time: the browser tests
//! cannot read files at run time, so they embed one image with `include_bytes!`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=CC2D_DATA");
    println!("cargo:rustc-check-cfg=cfg(cc2d_data)");
    let dir = std::env::var_os("CC2D_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../shared/data"));
    if let Ok(dir) = dir.canonicalize()
        && dir.join("isbi2015/images").is_dir()
    {
        println!("cargo:rustc-cfg=cc2d_data");
        println!("cargo:rustc-env=CC2D_DATA_DIR={}", dir.display());
    }
}
