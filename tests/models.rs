//! `reproduce zoo show` on every released checkpoint: each loads through the strict reader and
//! reports its parameter count, which must be the registry's (92,208 for EResFD, 162,352 for
//! EXTD, `named_parameters()` semantics).

use bfpgm_core::zoo::Zoo;

use crate::util::{fetched, fetched_zoo, reproduce, run, run_ok, tempdir};

#[test]
fn zoo_show_prints_the_parameter_count_of_every_checkpoint() {
    crate::require_mirror!();
    let data = fetched_zoo(&[]);
    for m in &Zoo::builtin().models {
        let out = run_ok(reproduce(&data).args(["zoo", "show", m.name()]));
        let line = format!(
            "parameters:    {} (counted from the file)",
            m.expected.params
        );
        assert!(out.lines().any(|l| l == line), "{}: {out}", m.name());
    }
}

#[test]
fn zoo_show_says_nothing_about_parameters_of_a_missing_checkpoint() {
    let data = tempdir();
    let out = run_ok(reproduce(data.path()).args(["zoo", "show", "eresfd-30"]));
    assert!(out.contains("cached:        no"), "{out}");
    assert!(!out.contains("parameters:"), "{out}");
}

#[test]
fn a_damaged_checkpoint_file_is_refused_naming_it() {
    crate::require_mirror!();
    let shared = crate::require_reference!();
    let fetched = fetched(&["models"]);
    let data = tempdir();
    // Same size, one flipped byte inside the first storage: only the CRC can tell.
    let mut bytes = std::fs::read(fetched.join("Pruned_Models/EXTD-20-pruned.pt")).unwrap();
    bytes[30_000] ^= 0x55;
    let path = data.path().join("EXTD-20-pruned.pt");
    std::fs::write(&path, bytes).unwrap();
    let out = run(reproduce(data.path())
        .args(["detect", "--arch", "extd", "--device", "cpu", "--model"])
        .arg(&path)
        .arg(shared.join("fixtures/grace_hopper.jpg")));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EXTD-20-pruned.pt is not a valid checkpoint: entry 'extd-0.2/data/"),
        "{err}"
    );
    assert!(err.contains("is damaged: CRC-32"), "{err}");
}
