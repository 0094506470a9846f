//! Many targets in one run: targets files, shards, and `watch`/`check` over a fleet of real Go
//! services.

mod common;

use std::path::Path;

use leakhound::source::targets::{self, Shard};

/// `--shard I/N` splits a fleet exactly as Prometheus' `hashmod` relabelling does: the shard of
/// every address is compared with what Prometheus' algorithm, run in Go, computes.
#[test]
fn shards_match_prometheus_hashmod_computed_in_go() {
    let mut addresses: Vec<String> = (0..200).map(|i| format!("10.1.{}.{}:{}", i / 50, i % 50, 6060 + i % 3)).collect();
    addresses.extend(["127.0.0.1:6060", "localhost:9464", "orders-3.orders.prod.svc:6060", "[::1]:6060", "[2001:db8::7]:8080", "h"].map(String::from));
    let moduli = [1u64, 2, 3, 5, 16, 1_000_003];
    let out = common::go_command(&common::go())
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet"))
        .args(["run", "hashmod.go", "-moduli", &moduli.map(|m| m.to_string()).join(",")])
        .args(&addresses)
        .output()
        .expect("go run hashmod.go");
    assert!(out.status.success(), "go run hashmod.go: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), addresses.len(), "{text}");
    let file: String = format!("[{{\"targets\": [{}]}}]", addresses.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", "));
    let list = targets::parse(&file, true, "t.json").unwrap();
    assert_eq!(list.len(), addresses.len());
    let mut checked = 0;
    for (target, line) in list.iter().zip(&lines) {
        let mut fields = line.split(' ');
        assert_eq!(fields.next(), Some(target.name.as_str()));
        for (&count, go_shard) in moduli.iter().zip(fields) {
            let go_shard: u64 = go_shard.parse().unwrap();
            for index in 0..count.min(16) {
                let shard = Shard { index, count };
                assert_eq!(shard.keeps(target), index == go_shard, "{} in shard {shard}: Go says {go_shard}", target.name);
                checked += 1;
            }
            assert_eq!(targets::hashmod(&target.name, count), go_shard);
        }
    }
    assert!(checked > 5000, "{checked}");
}
