//! The report documents: the serde structs of `../shared/report.schema.json`. Fields may be added;
//! none of the schema's may be renamed or dropped.

use serde::{Deserialize, Serialize};

use crate::profile::Frame;
use crate::stacks::{Blocking, GroupInfo};

pub const DIFF_SCHEMA: &str = "leakhound.diff/v1";
pub const REPORT_SCHEMA: &str = "leakhound.report/v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool { name: "leakhound".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameDoc {
    pub function: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl From<&Frame> for FrameDoc {
    fn from(f: &Frame) -> Self {
        FrameDoc { function: f.function.clone(), file: f.file.clone(), line: f.line }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SnapshotDoc {
    pub index: usize,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
    /// Total goroutines (0 for a heap profile).
    pub goroutines: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_inuse_bytes: Option<i64>,
    /// `goroutine`, `heap`, `goroutineleak`.
    #[serde(default)]
    pub kind: String,
    /// `proto`, `debug=1` or `debug=2`.
    #[serde(default)]
    pub format: String,
    /// Set when the producer cut the profile short (Go stops debug=2 output at 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<TruncationDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruncationDoc {
    pub bytes_read: u64,
    pub goroutines_read: u64,
}

/// What a group is, as every report shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupDoc {
    pub leaf: String,
    pub blocking: Blocking,
    pub stack: Vec<FrameDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<FrameDoc>,
    /// The leaf frame's file and line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_frame: Option<FrameDoc>,
    /// Value of the `--label` key this group was split by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl From<&GroupInfo> for GroupDoc {
    fn from(g: &GroupInfo) -> Self {
        GroupDoc {
            leaf: g.leaf_frame().function.clone(),
            blocking: g.blocking,
            stack: g.frames.iter().map(FrameDoc::from).collect(),
            created_by: g.created_by.as_ref().map(FrameDoc::from),
            leaf_frame: Some(FrameDoc::from(g.leaf_frame())),
            label: g.label.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeDoc {
    #[serde(flatten)]
    pub group: GroupDoc,
    pub base: i64,
    pub new: i64,
    pub delta: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiffReport {
    pub schema: String,
    pub tool: Tool,
    pub base: SnapshotDoc,
    pub new: SnapshotDoc,
    /// The value compared: `goroutine` (count) or a heap sample type such as `inuse_space`.
    pub sample_type: String,
    pub unit: String,
    pub base_total: i64,
    pub new_total: i64,
    pub changes: Vec<ChangeDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
