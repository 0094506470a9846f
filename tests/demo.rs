//! `leakhound demo`, the README's main command: the whole watch pipeline over real HTTP against the
//! bundled replay of the project's leaking Go service.

mod schema;

use std::process::Command;

#[test]
fn demo_ranks_the_bundled_leaks() {
    let out = Command::new(env!("CARGO_BIN_EXE_leakhound")).args(["demo", "--interval", "50ms", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    assert_eq!(doc["verdict"], "leak");
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 8);
    assert!(doc["snapshots"][0]["source"].as_str().unwrap().contains("goroutine"));
    let suspects = doc["suspects"].as_array().unwrap();
    let leaves: Vec<&str> = suspects.iter().map(|s| s["leaf"].as_str().unwrap()).collect();
    for leaf in [
        "main.forgottenSender",
        "main.abandonedReceiver",
        "main.rangeOverUnclosed",
        "main.fanoutWorker",
        "main.generatorWithoutQuit",
        "main.lockNeverReleased",
        "main.waitGroupNeverDone",
        "main.nilChannelSend",
        "main.retainingLeak",
        "main.notifyShipping",
        "main.auditOrder",
    ] {
        assert!(leaves.contains(&leaf), "{leaf} missing from {leaves:?}");
    }
    assert!(suspects.iter().all(|s| s["verdict"] == "leak"));
    assert!(suspects.iter().all(|s| s["stack"].as_array().unwrap().iter().all(|f| f["function"] != "main.burstWorker")));
    assert!(doc["snapshots"].as_array().unwrap().iter().all(|s| s["heap_inuse_bytes"].as_i64().unwrap() > 0));
    // Each retaining goroutine holds 1 MiB: the suspect carries its heap, and the cache that only
    // grows is heap growth, not a goroutine leak.
    let retaining = suspects.iter().find(|s| s["leaf"] == "main.retainingLeak").unwrap();
    let held = retaining["heap_inuse_bytes"].as_i64().unwrap();
    let count = retaining["counts"].as_array().unwrap().last().unwrap().as_i64().unwrap();
    assert!((held - (count << 20)).abs() <= count << 20 >> 3, "{held} bytes for {count} goroutines of 1 MiB");
    let growth = doc["heap_growth"].as_array().expect("heap_growth");
    assert!(growth.iter().any(|g| g["site"] == "main.(*cache).grow"), "{growth:?}");
    assert!(!leaves.iter().any(|l| l.contains("cache")), "{leaves:?}");

    let out = Command::new(env!("CARGO_BIN_EXE_leakhound")).args(["demo", "--interval", "50ms"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("leakhound:") && text.contains("GROWTH/MIN") && text.contains("fix:"), "{text}");
    assert!(text.contains("of live heap") && text.contains("Heap growth with no goroutine growth"), "{text}");
}
