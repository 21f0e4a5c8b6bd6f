//! `reproduce fetch` and `reproduce verify` end to end: the real binary against a local HTTP
//! server (tests/server.rs) with a test registry, and against the shared mirror with the real one.

use std::path::{Path, PathBuf};

use crate::require_mirror;
use crate::server::{Fault, Request, Server};
use crate::util::{self, reproduce, run, run_ok, tempdir};
use bfpgm_core::zoo::Zoo;

/// Deterministic, incompressible-looking test content.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn sha(data: &[u8]) -> String {
    bfpgm_core::hash::sha256_hex(data)
}

/// One `files:` entry of a test registry.
struct Entry<'a> {
    name: &'a str,
    file: &'a str,
    data: &'a [u8],
    urls: Vec<String>,
    dest: &'a str,
    extract: bool,
}

impl<'a> Entry<'a> {
    fn new(name: &'a str, file: &'a str, data: &'a [u8], urls: Vec<String>) -> Self {
        Entry {
            name,
            file,
            data,
            urls,
            dest: "files",
            extract: false,
        }
    }

    fn archive(mut self) -> Self {
        self.extract = true;
        self
    }
}

/// Writes a registry with these entries (and no models) to `dir/zoo.yaml`.
fn write_zoo(dir: &Path, entries: &[Entry<'_>]) -> PathBuf {
    let mut yaml = String::from(
        "version: 1\npapers: []\n\
         tolerances: {sparsity: 0.0, ap: 0.0}\nmodels: []\nfiles:\n",
    );
    for e in entries {
        let urls: Vec<String> = e.urls.iter().map(|u| format!("\"{u}\"")).collect();
        yaml += &format!(
            "  - name: {}\n    file: {}\n    bytes: {}\n    sha256: {}\n    urls: [{}]\n    dest: {}\n    extract: {}\n",
            e.name,
            e.file,
            e.data.len(),
            sha(e.data),
            urls.join(", "),
            e.dest,
            e.extract
        );
    }
    let path = dir.join("zoo.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A data folder plus the registry beside it.
struct Setup {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    zoo: PathBuf,
}

fn setup(entries: &[Entry<'_>]) -> Setup {
    let tmp = tempdir();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let zoo = write_zoo(tmp.path(), entries);
    Setup {
        _tmp: tmp,
        data,
        zoo,
    }
}

impl Setup {
    fn fetch(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = reproduce(&self.data);
        cmd.arg("--zoo").arg(&self.zoo).arg("fetch").args(args);
        cmd
    }

    fn path(&self, file: &str) -> PathBuf {
        self.data.join("files").join(file)
    }
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Files in a folder, hidden bookkeeping files left out.
fn visible(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn get(path: &str, range_from: Option<u64>) -> Request {
    Request {
        path: path.to_string(),
        range_from,
    }
}

#[test]
fn a_good_download_is_verified_in_place_and_a_second_run_does_nothing() {
    let server = Server::start();
    let data = payload(300_000, 1);
    server.serve("/a.bin", &data);
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/a.bin")],
    )]);
    let out = run_ok(&mut s.fetch(&["thing", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report[0]["name"], "thing");
    assert_eq!(report[0]["action"], "downloaded");
    assert_eq!(report[0]["bytes"], 300_000);
    assert_eq!(report[0]["source"], server.url("/a.bin"));
    assert_eq!(std::fs::read(s.path("a.bin")).unwrap(), data);
    assert_eq!(visible(&s.data.join("files")), ["a.bin"]);
    assert_eq!(server.requests(), [get("/a.bin", None)]);

    let again = run_ok(&mut s.fetch(&["thing"]));
    assert!(again.contains("already verified"), "{again}");
    assert_eq!(
        server.requests().len(),
        1,
        "the second run must not download"
    );
}

#[test]
fn a_corrupted_download_fails_clearly_and_leaves_nothing() {
    let server = Server::start();
    let data = payload(200_000, 2);
    server.serve("/a.bin", &data);
    server.fault("/a.bin", Fault::Corrupt(123_456));
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/a.bin")],
    )]);
    let out = run(&mut s.fetch(&["thing"]));
    assert_eq!(out.status.code(), Some(2));
    let mut bad = data.clone();
    bad[123_456] ^= 0xff;
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "sha256 mismatch: expected {}, got {}",
            sha(&data),
            sha(&bad)
        )),
        "{err}"
    );
    assert!(
        err.contains("error: thing (a.bin) could not be fetched"),
        "{err}"
    );
    assert!(err.contains("(the download was deleted)"), "{err}");
    assert!(!s.path("a.bin").exists());
    assert!(!s.path("a.bin.part").exists());
    assert!(visible(&s.data.join("files")).is_empty());
}

#[test]
fn a_cut_download_keeps_its_part_and_the_next_run_resumes_it_with_range() {
    let server = Server::start();
    let data = payload(400_000, 3);
    server.serve("/a.bin", &data);
    server.fault("/a.bin", Fault::Cut(150_000));
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/a.bin")],
    )]);

    let out = run(&mut s.fetch(&["thing", "--retries", "0"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("the transfer broke after 150000 of 400000 bytes"),
        "{err}"
    );
    assert!(err.contains("the next run resumes from there"), "{err}");
    assert!(
        !s.path("a.bin").exists(),
        "nothing unverified at the final path"
    );
    assert_eq!(
        std::fs::read(s.path("a.bin.part")).unwrap(),
        &data[..150_000]
    );

    let out = run_ok(&mut s.fetch(&["thing", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report[0]["resumed_from"], 150_000);
    assert_eq!(report[0]["bytes"], 250_000);
    assert_eq!(
        server.requests(),
        [get("/a.bin", None), get("/a.bin", Some(150_000))]
    );
    assert_eq!(sha(&std::fs::read(s.path("a.bin")).unwrap()), sha(&data));
    assert!(!s.path("a.bin.part").exists());
}

#[test]
fn a_broken_connection_is_retried_and_resumed_within_one_run() {
    let server = Server::start();
    let data = payload(300_000, 4);
    server.serve("/a.bin", &data);
    server.fault("/a.bin", Fault::Cut(100_000));
    server.fault("/a.bin", Fault::Status(503));
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/a.bin")],
    )]);
    let out = run(&mut s.fetch(&["thing"]));
    assert!(out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("retrying in 1.0 s (1/3)"), "{err}");
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(err.contains("retrying in 2.0 s (2/3)"), "{err}");
    assert!(err.contains("thing: resuming at 97.66 KiB"), "{err}");
    assert_eq!(
        server.requests(),
        [
            get("/a.bin", None),
            get("/a.bin", Some(100_000)),
            get("/a.bin", Some(100_000))
        ]
    );
    assert_eq!(std::fs::read(s.path("a.bin")).unwrap(), data);
}

#[test]
fn a_server_that_ignores_the_range_is_downloaded_from_the_start() {
    let server = Server::start();
    let data = payload(120_000, 5);
    server.serve("/a.bin", &data);
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/a.bin")],
    )]);
    std::fs::create_dir_all(s.data.join("files")).unwrap();
    std::fs::write(s.path("a.bin.part"), &data[..50_000]).unwrap();
    server.fault("/a.bin", Fault::IgnoreRange);
    let out = run(&mut s.fetch(&["thing"]));
    assert!(out.status.success());
    assert!(stderr_of(&out).contains("does not support resuming"));
    assert_eq!(server.requests(), [get("/a.bin", Some(50_000))]);
    assert_eq!(std::fs::read(s.path("a.bin")).unwrap(), data);
}

#[test]
fn a_failing_first_url_falls_back_to_the_second() {
    let server = Server::start();
    let data = payload(50_000, 6);
    server.serve("/second/a.bin", &data);
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/first/a.bin"), server.url("/second/a.bin")],
    )]);
    let out = run(&mut s.fetch(&["thing"]));
    assert!(out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "GET {}: HTTP 404 Not Found; trying the next source",
            server.url("/first/a.bin")
        )),
        "{err}"
    );
    assert_eq!(
        server.requests(),
        [get("/first/a.bin", None), get("/second/a.bin", None)]
    );
    assert_eq!(std::fs::read(s.path("a.bin")).unwrap(), data);
}

#[test]
fn every_failed_source_is_named_in_the_error() {
    let server = Server::start();
    let data = payload(1000, 7);
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/one"), server.url("/two")],
    )]);
    let out = run(&mut s.fetch(&["thing"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "error: thing (a.bin) could not be fetched from any of its 2 sources: GET {}: HTTP 404 Not Found; GET {}: HTTP 404 Not Found",
            server.url("/one"),
            server.url("/two")
        )),
        "{err}"
    );
}

#[test]
fn a_mirror_url_is_tried_first_by_file_name() {
    let server = Server::start();
    let data = payload(80_000, 8);
    server.serve("/mirror/a.bin", &data);
    server.serve("/upstream/a.bin", &data);
    let s = setup(&[Entry::new(
        "thing",
        "a.bin",
        &data,
        vec![server.url("/upstream/a.bin")],
    )]);
    let mirror = server.url("/mirror");
    run_ok(&mut s.fetch(&["thing", "--mirror", &mirror]));
    assert_eq!(server.requests(), [get("/mirror/a.bin", None)]);
    assert_eq!(std::fs::read(s.path("a.bin")).unwrap(), data);
}

#[test]
fn a_mirror_folder_from_bfpgm_mirror_is_used_and_missing_files_fall_through() {
    let server = Server::start();
    let mirrored = payload(60_000, 9);
    let upstream_only = payload(70_000, 10);
    server.serve("/b.bin", &upstream_only);
    let s = setup(&[
        Entry::new("one", "a.bin", &mirrored, vec![server.url("/a.bin")]),
        Entry::new("two", "b.bin", &upstream_only, vec![server.url("/b.bin")]),
    ]);
    let mirror = tempdir();
    std::fs::write(mirror.path().join("a.bin"), &mirrored).unwrap();
    let out = run(s.fetch(&["one", "two"]).env("BFPGM_MIRROR", mirror.path()));
    assert!(out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("b.bin: not in the mirror"), "{err}");
    assert_eq!(server.requests(), [get("/b.bin", None)]);
    assert_eq!(std::fs::read(s.path("a.bin")).unwrap(), mirrored);
    assert_eq!(std::fs::read(s.path("b.bin")).unwrap(), upstream_only);
}

#[test]
fn an_entry_without_urls_needs_a_mirror() {
    let data = payload(10, 11);
    let s = setup(&[Entry::new("mini", "m.zip", &data, vec![])]);
    let out = run(&mut s.fetch(&["mini"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("mini (m.zip) has no public URL"),
        "{}",
        stderr_of(&out)
    );
    let out = run(s.fetch(&["mini"]).env("BFPGM_MIRROR", ""));
    assert!(
        stderr_of(&out).contains("has no public URL"),
        "an empty BFPGM_MIRROR means no mirror: {}",
        stderr_of(&out)
    );
    let out = run(&mut s.fetch(&["mini", "--mirror", "/no/such/folder"]));
    assert!(
        stderr_of(&out).contains("the mirror folder /no/such/folder does not exist"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn files_already_on_disk_are_hashed_once_instead_of_downloaded() {
    let server = Server::start();
    let copied = payload(90_000, 16);
    let finished = payload(80_000, 17);
    let s = setup(&[
        Entry::new("copied", "a.bin", &copied, vec![server.url("/a.bin")]),
        Entry::new("finished", "b.bin", &finished, vec![server.url("/b.bin")]),
    ]);
    std::fs::create_dir_all(s.data.join("files")).unwrap();
    // Copied in by hand, and left complete by a run that stopped before its rename.
    std::fs::write(s.path("a.bin"), &copied).unwrap();
    std::fs::write(s.path("b.bin.part"), &finished).unwrap();
    let out = run_ok(&mut s.fetch(&["copied", "finished", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report[0]["action"], "checked");
    assert_eq!(report[1]["action"], "checked");
    assert!(server.requests().is_empty());
    assert_eq!(std::fs::read(s.path("b.bin")).unwrap(), finished);
    assert_eq!(visible(&s.data.join("files")), ["a.bin", "b.bin"]);
    let out = run_ok(&mut s.fetch(&["copied", "finished", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report[0]["action"], "cached");
    assert_eq!(report[1]["action"], "cached");
}

/// A zip archive written by the zip crate, with entry names taken verbatim.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let opts = zip::write::SimpleFileOptions::default();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn an_archive_is_extracted_after_verification_and_only_once() {
    let server = Server::start();
    let jpg = payload(5000, 12);
    let zip = zip_of(&[("set/images/0.jpg", &jpg), ("set/gt.txt", b"0.jpg\n1\n")]);
    server.serve("/set.zip", &zip);
    let s = setup(&[Entry::new("set", "set.zip", &zip, vec![server.url("/set.zip")]).archive()]);
    let out = run_ok(&mut s.fetch(&["set"]));
    assert!(out.contains("extracted 2 entries"), "{out}");
    assert_eq!(
        std::fs::read(s.data.join("files/set/images/0.jpg")).unwrap(),
        jpg
    );
    assert_eq!(visible(&s.data.join("files")), ["set", "set.zip"]);
    let again = run_ok(&mut s.fetch(&["set"]));
    assert!(
        again.contains("already verified, already extracted"),
        "{again}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn an_archive_with_parent_entries_is_refused_and_nothing_is_written_outside() {
    let server = Server::start();
    let zip = zip_of(&[("set/ok.txt", b"fine"), ("../../evil.txt", b"pwned")]);
    server.serve("/bad.zip", &zip);
    let s = setup(&[Entry::new("bad", "bad.zip", &zip, vec![server.url("/bad.zip")]).archive()]);
    let out = run(&mut s.fetch(&["bad"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("entry '../../evil.txt' would be written outside"),
        "{err}"
    );
    assert!(err.contains("bad.zip (nothing was extracted)"), "{err}");
    let root = s.data.parent().unwrap();
    assert_eq!(visible(root), ["data", "zoo.yaml"]);
    assert_eq!(visible(&s.data), ["files"]);
    assert_eq!(visible(&s.data.join("files")), ["bad.zip"]);
    let hidden: Vec<String> = std::fs::read_dir(s.data.join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("extract"))
        .collect();
    assert!(hidden.is_empty(), "no marker or staging folder: {hidden:?}");
}

#[test]
fn a_truncated_archive_is_a_clear_error_and_extracts_nothing() {
    let server = Server::start();
    let whole = zip_of(&[("set/a.bin", &payload(20_000, 13))]);
    let cut = whole[..whole.len() / 2].to_vec();
    server.serve("/cut.zip", &cut);
    let s = setup(&[Entry::new("cut", "cut.zip", &cut, vec![server.url("/cut.zip")]).archive()]);
    let out = run(&mut s.fetch(&["cut"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "cut.zip (nothing was extracted): not a complete zip archive (truncated or damaged?)"
        ),
        "{err}"
    );
    assert_eq!(visible(&s.data.join("files")), ["cut.zip"]);
}

#[test]
fn an_unknown_name_suggests_the_closest() {
    let dir = tempdir();
    let out = run(reproduce(dir.path()).args(["fetch", "eresfd-3"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("unknown name or group 'eresfd-3'; did you mean 'eresfd-30'"),
        "{err}"
    );
    let out = run(reproduce(dir.path()).args(["fetch", "wider-gtt"]));
    assert!(
        stderr_of(&out).contains("'wider-gt'"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn verify_rehashes_even_stamped_files_and_reports_each() {
    let server = Server::start();
    let a = payload(40_000, 14);
    let b = payload(30_000, 15);
    server.serve("/a.bin", &a);
    server.serve("/b.bin", &b);
    let s = setup(&[
        Entry::new("one", "a.bin", &a, vec![server.url("/a.bin")]),
        Entry::new("two", "b.bin", &b, vec![server.url("/b.bin")]),
        Entry::new("three", "c.bin", &b, vec![]),
    ]);
    run_ok(&mut s.fetch(&["one", "two"]));
    let verify = |args: &[&str]| {
        let mut cmd = reproduce(&s.data);
        cmd.arg("--zoo").arg(&s.zoo).arg("verify").args(args);
        cmd
    };
    let out = run_ok(&mut verify(&[]));
    assert!(out.contains("2 ok, 0 bad, 1 not downloaded"), "{out}");

    // Damage a byte but keep size and mtime (as `touch -r` would): verify re-hashes and says so,
    // and the stamp no longer matches (the ctime moved), so fetch replaces the file.
    let path = s.path("a.bin");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut damaged = a.clone();
    damaged[7] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let out = run(&mut verify(&["--json"]));
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["name"], "one");
    assert_eq!(report[0]["result"], "mismatch");
    assert_eq!(report[0]["expected"], sha(&a));
    assert_eq!(report[0]["got"], sha(&damaged));
    assert_eq!(report[1]["result"], "ok");
    assert_eq!(report[2]["result"], "not_cached");

    // The next fetch replaces it.
    let out = run(&mut s.fetch(&["one"]));
    assert!(out.status.success());
    assert!(stderr_of(&out).contains("is not the registry's file"));
    assert_eq!(std::fs::read(&path).unwrap(), a);
}

#[test]
fn fetches_the_nine_checkpoints_and_the_ground_truth_from_the_mirror() {
    let mirror = require_mirror!();
    let dir = tempdir();
    let out = run_ok(
        reproduce(dir.path())
            .env("BFPGM_MIRROR", &mirror)
            .args(["fetch", "models", "wider-gt", "--json"]),
    );
    let report: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let zoo = Zoo::builtin();
    let wanted = zoo
        .resolve(&["models".to_string(), "wider-gt".to_string()])
        .unwrap();
    assert_eq!(wanted.len(), 13);
    assert_eq!(report.len(), 13);
    for (a, r) in wanted.iter().zip(&report) {
        assert_eq!(r["name"], a.name.as_str());
        assert_eq!(r["action"], "downloaded");
        let path = a.path(dir.path());
        assert_eq!(sha(&std::fs::read(&path).unwrap()), a.sha256, "{}", a.name);
        let expected_dir = if zoo.models.iter().any(|m| m.name() == a.name) {
            "Pruned_Models"
        } else {
            "WIDER/ground_truth"
        };
        assert_eq!(path, dir.path().join(expected_dir).join(&a.file));
    }
    let out = run_ok(reproduce(dir.path()).args(["verify", "models", "wider-gt"]));
    assert!(out.contains("13 ok, 0 bad, 0 not downloaded"), "{out}");
}

#[test]
fn the_shared_test_data_folder_holds_what_was_asked_for() {
    require_mirror!();
    let dir = util::fetched(&["models"]);
    let zoo = Zoo::builtin();
    for m in zoo
        .models
        .iter()
        .filter(|m| m.artifact.groups.iter().any(|g| g == "models"))
    {
        assert!(
            bfpgm_core::fetch::cached_path(&m.artifact, &dir).is_some(),
            "{} not cached in {}",
            m.name(),
            dir.display()
        );
    }
    assert_eq!(util::fetched(&["models"]), dir);
}

/// Issue 14, bug 2: a complete data folder that the user cannot write (a shared cache, a CI cache
/// restored read-only) serves `verify`, `check` and `tables`; the stamps and locks they would
/// write are skipped with a note, and nothing in the folder changes. The commands run as
/// `nobody` when the tests run as root (whom permissions do not stop).
#[test]
fn a_read_only_data_folder_serves_verify_check_and_tables() {
    let mirror = require_mirror!();
    let root = tempdir();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    run_ok(reproduce(&data).env("BFPGM_MIRROR", &mirror).args([
        "fetch",
        "models",
        "baselines",
        "wider-val-mini",
    ]));
    // Making the folder read-only changes every file's ctime, so every stamp is stale (as in a
    // cache restored from an archive): verify hashes the files and cannot record it.
    let reports = tempdir();
    util::chmod_tree(reports.path(), 0o777);
    util::chmod_tree(root.path(), 0o444);
    let before = util::tree(&data);
    let as_reader = |args: &[&str]| {
        let out = run(util::unprivileged(reproduce(&data).args(args)));
        (
            out.status.code(),
            stderr_of(&out),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, err, out) = as_reader(&["verify"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("32 ok, 0 bad, "), "{out}");
    let first = data.join("Pruned_Models/EResFD-original.pth");
    assert!(
        err.contains(&format!("cannot record that {} verified", first.display())),
        "{err}"
    );
    assert_eq!(err.matches("cannot record").count(), 1, "one note: {err}");
    let report = reports.path().join("check.json");
    let (code, err, out) = as_reader(&[
        "check",
        "--eval",
        "off",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("31 models: 31 ok, 0 drifted"), "{out}");
    let (code, err, _) = as_reader(&["tables"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("cannot be written: files there are used without lock files"),
        "{err}"
    );
    let (code, err, _) = as_reader(&["fetch", "wider-val-mini"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(util::tree(&data), before, "nothing was written");
    util::chmod_tree(root.path(), 0o755);
}

/// Issue 14: what an extraction wrote is recorded and checked. A deleted image is reported by
/// `verify` (exit 1) and unpacked again by `fetch`; an image changed in place is found by
/// `verify --deep`; an archive whose extraction failed is not "ok".
#[test]
fn damage_inside_an_unpacked_archive_is_found_and_repaired() {
    let server = Server::start();
    let jpgs = [payload(5000, 21), payload(6000, 22)];
    let zip = zip_of(&[
        ("set/images/0.jpg", &jpgs[0]),
        ("set/images/1.jpg", &jpgs[1]),
    ]);
    server.serve("/set.zip", &zip);
    let s = setup(&[Entry::new("set", "set.zip", &zip, vec![server.url("/set.zip")]).archive()]);
    run_ok(&mut s.fetch(&["set"]));
    let verify = |args: &[&str]| {
        let mut cmd = reproduce(&s.data);
        cmd.arg("--zoo").arg(&s.zoo).arg("verify").args(args);
        run(&mut cmd)
    };
    assert!(verify(&["--deep"]).status.success());
    let image = s.data.join("files/set/images/1.jpg");
    std::fs::remove_file(&image).unwrap();
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("UNPACKED CHANGED"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "1 unpacked file(s) missing and 0 changed since unpacking (first: {} is missing)",
            image.display()
        )),
        "{stdout}"
    );
    // Commands that use the set say what is wrong, and fetch unpacks it again.
    let out = run_ok(&mut s.fetch(&["set"]));
    assert!(
        out.contains("already verified, extracted 2 entries"),
        "{out}"
    );
    assert_eq!(std::fs::read(&image).unwrap(), jpgs[1]);
    // Same size, other bytes: only --deep reads them.
    let mut changed = jpgs[1].clone();
    changed[100] ^= 0xff;
    std::fs::write(&image, &changed).unwrap();
    assert!(verify(&[]).status.success());
    let out = verify(&["--deep", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["result"], "ok");
    assert_eq!(report[0]["unpacked"], "changed");
    assert_eq!(report[0]["changed"], 1);
    // An extraction that never completed (no record of it) is not ok either.
    std::fs::remove_file(s.data.join("files/.set.zip.extracted")).unwrap();
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("NOT UNPACKED"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Issue 14: offline, every source unreachable is said at once, with no retries and no pause
/// per file, and the next files from the same host are not even tried; `--retries` is a global
/// flag. A fetch leaves no lock file behind.
#[test]
fn unreachable_sources_fail_at_once_and_no_lock_file_stays() {
    // A port nothing listens on: the connection is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (a, b) = (payload(100, 31), payload(200, 32));
    let s = setup(&[
        Entry::new("one", "a.bin", &a, vec![format!("{dead}/a.bin")]),
        Entry::new("two", "b.bin", &b, vec![format!("{dead}/b.bin")]),
    ]);
    let mirror = tempdir();
    let out = run(s
        .fetch(&["one", "two", "--retries", "5"])
        .env("BFPGM_MIRROR", mirror.path()));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(!err.contains("retrying"), "{err}");
    assert!(
        err.contains("one (a.bin) could not be fetched: none of its sources can be reached ("),
        "{err}"
    );
    assert!(err.contains("a.bin: not in the mirror"), "{err}");
    assert!(
        err.contains(
            "check the network connection, or point --mirror / BFPGM_MIRROR at a \
                      folder that holds a.bin"
        ),
        "{err}"
    );
    assert!(
        err.contains("could not be reached earlier in this run"),
        "the second file skips the dead host: {err}"
    );

    let server = Server::start();
    server.serve("/a.bin", &a);
    let s = setup(&[Entry::new("one", "a.bin", &a, vec![server.url("/a.bin")])]);
    run_ok(&mut s.fetch(&["one"]));
    let hidden: Vec<String> = util::tree(&s.data.join("files"))
        .into_iter()
        .filter(|n| n.ends_with(".lock"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}
