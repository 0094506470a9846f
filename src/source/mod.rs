//! Where profile bytes come from: files and saved folders, HTTP, and the demo server.

pub mod demo;
pub mod files;
pub mod http;
pub mod saved;
