//! Where profile bytes come from: files and saved folders, HTTP, and the demo server; and which
//! services to sample (`targets`).

pub mod demo;
pub mod files;
pub mod http;
pub mod percent;
pub mod saved;
pub mod targets;
