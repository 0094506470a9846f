//! Generates the pprof `profile.proto` types with prost, compiling the schema with protox so that no
//! system `protoc` is needed.
fn main() {
    println!("cargo:rerun-if-changed=proto/profile.proto");
    let fds = protox::compile(["profile.proto"], ["proto"]).expect("proto/profile.proto must compile");
    prost_build::Config::new().compile_fds(fds).expect("prost-build must generate the profile types");
}
