//! `reproduce zoo list | show` end to end: the tables and JSON agree with zoo.yaml, and the
//! "cached" column follows what `reproduce fetch` did.

use crate::require_mirror;
use crate::util::{self, reproduce, run, run_ok, tempdir};
use bfpgm_core::zoo::Zoo;

#[test]
fn list_shows_every_checkpoint_and_nothing_cached_in_an_empty_folder() {
    let dir = tempdir();
    let out = run_ok(reproduce(dir.path()).args(["zoo", "list"]));
    let zoo = Zoo::builtin();
    for m in &zoo.models {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(m.name()))
            .unwrap_or_else(|| panic!("no row for {} in\n{out}", m.name()));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1], m.arch.to_string(), "{row}");
        assert_eq!(cols[2], m.method.to_string(), "{row}");
        let target = m
            .target_rate
            .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0));
        assert_eq!(cols[3], target, "{row}");
        assert_eq!(cols[4], format!("{:.2}%", m.expected.sparsity), "{row}");
        assert_eq!(*cols.last().unwrap(), "no", "{row}");
    }
    for a in &zoo.files {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{} ", a.name))),
            "no row for {} in\n{out}",
            a.name
        );
    }
}

#[test]
fn list_json_carries_the_registry_and_the_cache_state() {
    let mirror = require_mirror!();
    let dir = tempdir();
    run_ok(
        reproduce(dir.path())
            .env("BFPGM_MIRROR", &mirror)
            .args(["fetch", "eresfd-30"]),
    );
    let out = run_ok(reproduce(dir.path()).args(["zoo", "list", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let zoo = Zoo::builtin();
    let models = doc["models"].as_array().unwrap();
    assert_eq!(models.len(), zoo.models.len());
    for (m, j) in zoo.models.iter().zip(models) {
        assert_eq!(j["name"], m.name());
        assert_eq!(j["sha256"], m.artifact.sha256.as_str());
        assert_eq!(j["bytes"], m.artifact.bytes);
        assert_eq!(j["published"], serde_json::to_value(&m.published).unwrap());
        assert_eq!(j["method"], m.method.to_string());
        let fetched = m.name() == "eresfd-30";
        assert_eq!(j["cached"], fetched, "{}", m.name());
        assert_eq!(
            j["status"]["state"],
            if fetched { "verified" } else { "missing" }
        );
    }
    assert_eq!(doc["files"].as_array().unwrap().len(), zoo.files.len());
}

#[test]
fn list_filters_by_network_and_method() {
    let dir = tempdir();
    let out =
        run_ok(reproduce(dir.path()).args(["zoo", "list", "--arch", "extd", "--method", "l1"]));
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "extd-l1-10",
            "extd-l1-20",
            "extd-l1-30",
            "extd-l1-40",
            "extd-l1-50"
        ]
    );
    assert!(!out.contains("data file"), "{out}");
}

#[test]
fn list_marks_an_edited_checkpoint_as_unverified() {
    let mirror = require_mirror!();
    let dir = tempdir();
    run_ok(
        reproduce(dir.path())
            .env("BFPGM_MIRROR", &mirror)
            .args(["fetch", "extd-20"]),
    );
    let zoo = Zoo::builtin();
    let path = zoo.model("extd-20").unwrap().artifact.path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, &bytes).unwrap();
    let out = run_ok(reproduce(dir.path()).args(["zoo", "list"]));
    let row = out.lines().find(|l| l.starts_with("extd-20 ")).unwrap();
    assert!(row.ends_with("unverified"), "{row}");
}

#[test]
fn show_prints_a_model_and_a_data_file() {
    let dir = util::tempdir();
    let zoo = Zoo::builtin();
    let m = zoo.model("eresfd-30").unwrap();
    let out = run_ok(reproduce(dir.path()).args(["zoo", "show", "eresfd-30"]));
    assert!(out.contains("architecture:  eresfd"), "{out}");
    assert!(
        out.contains(&format!("sha256:        {}", m.artifact.sha256)),
        "{out}"
    );
    assert!(
        out.contains(&format!("url:           {}", m.artifact.urls[0])),
        "{out}"
    );
    assert!(out.contains("cached:        no"), "{out}");

    let out = run_ok(reproduce(dir.path()).args(["zoo", "show", "wider-val-mini", "--json"]));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["file"], "WIDER_val_mini.zip");
    assert_eq!(j["extract"], true);
    assert_eq!(j["urls"].as_array().unwrap().len(), 0);
    assert_eq!(j["groups"][0], "wider-mini");
}

#[test]
fn show_of_an_unknown_name_suggests_the_closest() {
    let dir = tempdir();
    let out = run(reproduce(dir.path()).args(["zoo", "show", "extd20"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown entry 'extd20'; did you mean 'extd-20'"),
        "{err}"
    );
}
