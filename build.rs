//! Link settings for the `laminar` binary.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // Relative relocations packed (DT_RELR, glibc ≥ 2.36): the loader reads a few kilobytes
    // instead of the ~700 KB of relocation entries a position-independent binary this size
    // carries, and those pages stay out of the daemon's resident memory.
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
