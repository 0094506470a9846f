pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/perftools.profiles.rs"));
}
