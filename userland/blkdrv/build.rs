//! Links with the task layout of the runtime crate.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/../rt/task.ld");
    println!("cargo:rerun-if-changed=../rt/task.ld");
}
