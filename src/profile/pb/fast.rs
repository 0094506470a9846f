//! A reader of `profile.proto` that works on the bytes in place: strings and sub-messages are
//! slices of the input, a sample's location ids are read straight into its stack, and frames are
//! interned on integer keys. prost's generated types allocate a vector per sample, location and
//! line, which made protobuf decoding the larger part of `leakhound diff`.
//!
//! It gives exactly what [`super::decode_prost`] gives for a well-formed profile, and `None` for
//! anything else (truncated or corrupt data, a dangling reference, a field encoded in a way Go does
//! not write), so that the prost path reports the error in its words.

use crate::fasthash::FxHashMap;
use crate::profile::{Format, Frame, Profile, Sample, SampleType};

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// One field: its number and its value (a varint, or the bytes of a length-delimited field).
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                // The tenth byte may carry one bit only.
                return (shift < 63 || b <= 1).then_some(v);
            }
        }
        None
    }

    #[inline]
    fn field(&mut self) -> Option<Option<(u32, Value<'a>)>> {
        if self.pos >= self.buf.len() {
            return Some(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).ok().filter(|&n| n > 0)?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.pos = self.pos.checked_add(8).filter(|&p| p <= self.buf.len())?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len())?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Value::Bytes(b)
            }
            5 => {
                self.pos = self.pos.checked_add(4).filter(|&p| p <= self.buf.len())?;
                Value::Fixed
            }
            _ => return None, // groups (3, 4) are not in profile.proto; 6 and 7 are invalid
        };
        Some(Some((number, value)))
    }
}

/// Calls `f` for each field of a message; `None` on malformed data or when `f` refuses a field.
fn each_field<'a>(buf: &'a [u8], mut f: impl FnMut(u32, Value<'a>) -> Option<()>) -> Option<()> {
    let mut r = Reader::new(buf);
    while let Some((n, v)) = r.field()? {
        f(n, v)?;
    }
    Some(())
}

/// A repeated integer field: packed (as Go writes it) or one value per field.
fn push_ints(v: Value<'_>, mut push: impl FnMut(u64)) -> Option<()> {
    match v {
        Value::Varint(x) => push(x),
        Value::Bytes(b) => {
            let mut r = Reader::new(b);
            while r.pos < b.len() {
                push(r.varint()?);
            }
        }
        Value::Fixed => return None,
    }
    Some(())
}

fn int(v: Value<'_>) -> Option<u64> {
    match v {
        Value::Varint(x) => Some(x),
        _ => None,
    }
}

fn bytes_of(v: Value<'_>) -> Option<&[u8]> {
    match v {
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

#[derive(Default, Clone, Copy)]
struct ValueType {
    r#type: i64,
    unit: i64,
}

fn value_type(b: &[u8]) -> Option<ValueType> {
    let mut t = ValueType::default();
    each_field(b, |n, v| {
        match n {
            1 => t.r#type = int(v)? as i64,
            2 => t.unit = int(v)? as i64,
            _ => {}
        }
        Some(())
    })?;
    Some(t)
}

#[derive(Default, Clone, Copy)]
struct Function {
    name: i64,
    filename: i64,
    start_line: i64,
}

/// Maps profile ids (function and location ids, dense from 1 in Go's profiles) to positions.
struct IdMap {
    dense: Vec<u32>,
    sparse: FxHashMap<u64, u32>,
}

impl IdMap {
    const NONE: u32 = u32::MAX;

    fn new(count: usize) -> Self {
        IdMap { dense: vec![Self::NONE; count + 1], sparse: FxHashMap::default() }
    }

    /// Later entries with the same id win, as when prost's vectors are collected into a map.
    fn insert(&mut self, id: u64, pos: u32) {
        match usize::try_from(id).ok().and_then(|i| self.dense.get_mut(i)) {
            Some(slot) => *slot = pos,
            None => {
                self.sparse.insert(id, pos);
            }
        }
    }

    #[inline]
    fn get(&self, id: u64) -> Option<u32> {
        match self.dense.get(usize::try_from(id).ok()?) {
            Some(&p) if p != Self::NONE => Some(p),
            Some(_) => None,
            None => self.sparse.get(&id).copied(),
        }
    }
}

pub(super) fn decode(bytes: &[u8]) -> Option<Profile> {
    let mut sample_types = Vec::new();
    let mut samples: Vec<&[u8]> = Vec::new();
    let mut locations: Vec<&[u8]> = Vec::new();
    let mut functions: Vec<&[u8]> = Vec::new();
    let mut strings: Vec<&str> = Vec::new();
    let (mut time_nanos, mut duration_nanos, mut period, mut default_sample_type) = (0i64, 0i64, 0i64, 0i64);
    let mut period_type: Option<ValueType> = None;
    each_field(bytes, |n, v| {
        match n {
            1 => sample_types.push(value_type(bytes_of(v)?)?),
            2 => samples.push(bytes_of(v)?),
            4 => locations.push(bytes_of(v)?),
            5 => functions.push(bytes_of(v)?),
            6 => strings.push(std::str::from_utf8(bytes_of(v)?).ok()?),
            9 => time_nanos = int(v)? as i64,
            10 => duration_nanos = int(v)? as i64,
            // A message field given twice is merged by prost: leave that rare case to it.
            11 if period_type.is_none() => period_type = Some(value_type(bytes_of(v)?)?),
            11 => return None,
            12 => period = int(v)? as i64,
            14 => default_sample_type = int(v)? as i64,
            3 => {
                bytes_of(v)?;
            }
            7 | 8 | 15 => {
                int(v)?;
            }
            13 => push_ints(v, |_| {})?,
            _ => {} // unknown fields are skipped, as prost does
        }
        Some(())
    })?;
    if sample_types.is_empty() || strings.first().is_some_and(|s| !s.is_empty()) {
        return None;
    }
    let s = |i: i64| -> Option<&str> { usize::try_from(i).ok().and_then(|i| strings.get(i)).copied() };
    let sample_types: Vec<SampleType> =
        sample_types.iter().map(|t| Some(SampleType { name: s(t.r#type)?.to_string(), unit: s(t.unit)?.to_string() })).collect::<Option<_>>()?;

    // Equal strings may sit at several indexes: frames are interned on the first index of each.
    let mut first_index: FxHashMap<&str, u32> = FxHashMap::default();
    let canonical: Vec<u32> = strings.iter().enumerate().map(|(i, &st)| *first_index.entry(st).or_insert(i as u32)).collect();
    let canon = |i: i64| -> Option<u32> { usize::try_from(i).ok().and_then(|i| canonical.get(i)).copied() };

    let mut funcs: Vec<Function> = Vec::with_capacity(functions.len());
    let mut func_ids = IdMap::new(functions.len());
    for b in &functions {
        let mut id = 0;
        let mut f = Function::default();
        each_field(b, |n, v| {
            match n {
                1 => id = int(v)?,
                2 => f.name = int(v)? as i64,
                3 => {
                    int(v)?;
                }
                4 => f.filename = int(v)? as i64,
                5 => f.start_line = int(v)? as i64,
                _ => {}
            }
            Some(())
        })?;
        func_ids.insert(id, funcs.len() as u32);
        funcs.push(f);
    }

    // Frames of all locations, innermost inlined call first, end to end; `loc_frames[i]` is the
    // range of location i.
    let mut frames: Vec<Frame> = Vec::new();
    let mut frame_ids: FxHashMap<(u32, u32, i64, u64, i64), u32> = FxHashMap::default();
    let mut unsymbolized: FxHashMap<u64, u32> = FxHashMap::default();
    let mut loc_frame_ids: Vec<u32> = Vec::with_capacity(locations.len() * 2);
    let mut loc_ranges: Vec<(u32, u32)> = Vec::with_capacity(locations.len());
    let mut loc_ids = IdMap::new(locations.len());
    let mut lines: Vec<(u64, i64)> = Vec::new();
    for b in &locations {
        let (mut id, mut address) = (0u64, 0u64);
        lines.clear();
        each_field(b, |n, v| {
            match n {
                1 => id = int(v)?,
                3 => address = int(v)?,
                4 => {
                    let (mut function_id, mut line) = (0u64, 0i64);
                    each_field(bytes_of(v)?, |n, v| {
                        match n {
                            1 => function_id = int(v)?,
                            2 => line = int(v)? as i64,
                            3 => {
                                int(v)?;
                            }
                            _ => {}
                        }
                        Some(())
                    })?;
                    lines.push((function_id, line));
                }
                2 | 5 => {
                    int(v)?;
                }
                _ => {}
            }
            Some(())
        })?;
        let start = loc_frame_ids.len() as u32;
        for &(function_id, line) in &lines {
            let f = funcs[func_ids.get(function_id)? as usize];
            let key = (canon(f.name)?, canon(f.filename)?, line, address, f.start_line);
            let next = frames.len() as u32;
            let id = *frame_ids.entry(key).or_insert(next);
            if id == next {
                frames.push(Frame { function: s(f.name)?.to_string(), file: s(f.filename)?.to_string(), line, address, start_line: f.start_line });
            }
            loc_frame_ids.push(id);
        }
        if lines.is_empty() {
            // An unsymbolized location: keep it, named by its address.
            let name = format!("0x{address:x}");
            // Interned like any frame: a symbolized one can carry the same name only by accident,
            // which the prost path would merge; leave that to it.
            if strings.contains(&name.as_str()) {
                return None;
            }
            let next = frames.len() as u32;
            let id = *unsymbolized.entry(address).or_insert(next);
            if id == next {
                frames.push(Frame { function: name, file: String::new(), line: 0, address, start_line: 0 });
            }
            loc_frame_ids.push(id);
        }
        loc_ids.insert(id, loc_ranges.len() as u32);
        loc_ranges.push((start, loc_frame_ids.len() as u32));
    }

    let mut out = Vec::with_capacity(samples.len());
    for b in &samples {
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        let mut values = Vec::with_capacity(sample_types.len());
        let mut labels = Vec::new();
        let mut missing = false;
        each_field(b, |n, v| {
            match n {
                1 => push_ints(v, |id| match loc_ids.get(id) {
                    Some(l) => {
                        let (a, z) = loc_ranges[l as usize];
                        stack.extend_from_slice(&loc_frame_ids[a as usize..z as usize]);
                    }
                    None => missing = true,
                })?,
                2 => push_ints(v, |x| values.push(x as i64))?,
                3 => {
                    let (mut key, mut str_, mut num, mut num_unit) = (0i64, 0i64, 0i64, 0i64);
                    each_field(bytes_of(v)?, |n, v| {
                        match n {
                            1 => key = int(v)? as i64,
                            2 => str_ = int(v)? as i64,
                            3 => num = int(v)? as i64,
                            4 => num_unit = int(v)? as i64,
                            _ => {}
                        }
                        Some(())
                    })?;
                    let value = if str_ != 0 {
                        s(str_)?.to_string()
                    } else if num_unit != 0 {
                        format!("{} {}", num, s(num_unit)?)
                    } else {
                        num.to_string()
                    };
                    labels.push((s(key)?.to_string(), value));
                }
                _ => {}
            }
            Some(())
        })?;
        if missing || values.len() != sample_types.len() {
            return None;
        }
        stack.shrink_to_fit();
        out.push(Sample { stack, values, labels, goroutine: None });
    }

    let kind = super::kind_of(&sample_types);
    let period_type = match period_type {
        Some(t) => Some(SampleType { name: s(t.r#type)?.to_string(), unit: s(t.unit)?.to_string() }),
        None => None,
    };
    let default_sample_type = if default_sample_type != 0 {
        let name = s(default_sample_type)?;
        sample_types.iter().position(|t| t.name == name).unwrap_or(0)
    } else {
        0
    };
    Some(Profile {
        kind,
        format: Format::Proto,
        sample_types,
        default_sample_type,
        time_nanos: (time_nanos != 0).then_some(time_nanos),
        duration_nanos,
        period_type,
        period,
        frames,
        samples: out,
        declared_total: None,
        truncated: None,
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use crate::proto;

    fn profile() -> proto::Profile {
        let strings = ["", "goroutine", "count", "main.f", "/src/main.go", "runtime.gopark", "/go/proc.go", "handler", "bytes"];
        proto::Profile {
            sample_type: vec![proto::ValueType { r#type: 1, unit: 2 }],
            period_type: Some(proto::ValueType { r#type: 1, unit: 2 }),
            period: 1,
            time_nanos: 1_700_000_000_000_000_000,
            string_table: strings.iter().map(|s| s.to_string()).collect(),
            function: vec![
                proto::Function { id: 1, name: 3, filename: 4, start_line: 10, ..Default::default() },
                proto::Function { id: 2, name: 5, filename: 6, start_line: 300, ..Default::default() },
            ],
            location: vec![
                proto::Location { id: 1, address: 0x1000, line: vec![proto::Line { function_id: 2, line: 310, column: 0 }], ..Default::default() },
                proto::Location {
                    id: 7,
                    address: 0x2000,
                    line: vec![proto::Line { function_id: 1, line: 12, column: 0 }, proto::Line { function_id: 1, line: 20, column: 0 }],
                    ..Default::default()
                },
                proto::Location { id: 3, address: 0x3000, line: vec![], ..Default::default() },
            ],
            sample: vec![
                proto::Sample { location_id: vec![1, 7], value: vec![5], label: vec![proto::Label { key: 7, str: 3, ..Default::default() }] },
                proto::Sample { location_id: vec![3, 7], value: vec![-2], label: vec![proto::Label { key: 8, num: 42, num_unit: 8, ..Default::default() }] },
            ],
            ..Default::default()
        }
    }

    fn same(a: &crate::profile::Profile, b: &crate::profile::Profile) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn fast_reader_matches_prost() {
        let bytes = profile().encode_to_vec();
        let fast = super::decode(&bytes).expect("well-formed profile");
        let slow = super::super::decode_prost(&bytes).unwrap();
        same(&fast, &slow);
        assert_eq!(fast.samples[0].stack.len(), 3);
        assert_eq!(fast.frames[fast.samples[1].stack[0] as usize].function, "0x3000");
        assert_eq!(fast.samples[1].labels, vec![("bytes".to_string(), "42 bytes".to_string())]);
    }

    #[test]
    fn bad_data_is_left_to_prost() {
        let mut p = profile();
        p.sample[0].location_id.push(99);
        let bytes = p.encode_to_vec();
        assert!(super::decode(&bytes).is_none());
        assert!(super::super::decode(&bytes).unwrap_err().to_string().contains("unknown location 99"));
        let bytes = profile().encode_to_vec();
        for cut in [1, 10, bytes.len() / 2, bytes.len() - 1] {
            let r = super::super::decode(&bytes[..cut]);
            assert_eq!(super::decode(&bytes[..cut]).is_some(), r.is_ok(), "cut at {cut}");
        }
    }

    /// Every real profile the project has (Go 1.19 and 1.27 fixtures, the demo, and bench/data
    /// when it was built) decodes to the same model both ways.
    #[test]
    fn real_profiles_match_prost() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut stack = vec![root.join("tests/fixtures"), root.join("src/source/demo"), root.join("bench/data/series")];
        let mut checked = 0;
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.to_string_lossy().ends_with(".pb.gz") {
                    let raw = crate::profile::gunzip(&std::fs::read(&path).unwrap(), 1 << 30).unwrap();
                    match super::super::decode_prost(&raw) {
                        Ok(slow) => same(&super::decode(&raw).expect("fast reader takes what prost takes"), &slow),
                        Err(_) => assert!(super::decode(&raw).is_none(), "{}", path.display()),
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 10, "only {checked} profiles found");
    }
}
