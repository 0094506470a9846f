//! Validates reports against the contract `report.schema.json` (a copy of ../shared's, kept in the
//! repository so the tests run on a fresh clone; a test checks the copy is current when
//! ../shared is beside the checkout).
#![allow(dead_code)]

use std::path::Path;

pub fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema/report.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Panics with every violation when `doc` does not conform.
pub fn validate(doc: &serde_json::Value) {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "report does not conform to report.schema.json:\n{}", errors.join("\n"));
}
