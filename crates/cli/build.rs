//! Link flags for the `tern` binary.

fn main() {
    // Packed relative relocations (DT_RELR): the dynamic loader otherwise
    // reads ~1 MB of RELA entries at every start, which cost `tern
    // --version` about 0.6 ms and `tern exec` 1.4 MB of RSS. Needs binutils
    // 2.38 / lld 15 and glibc 2.36 (Debian 12, Ubuntu 22.04 and later).
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
