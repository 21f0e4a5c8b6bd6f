//! `reproduce tables` end to end on the nine real checkpoints: the measured sparsities, every
//! conv's zero filters and every group's rate range, against `docs/upstream.md` §zero-filters,
//! §sparsity and §released-rates.

use serde_json::Value;

use crate::util::{fetched_zoo, reproduce, run_ok};

/// Zoo names in table order, with the README sparsity column as `calc_sparsity` recomputes it
/// (truncated to 2 decimals) and the exact zeros (`docs/upstream.md` §sparsity).
const MODELS: [(&str, &str, u64); 9] = [
    ("eresfd-original", "0.08", 80),
    ("eresfd-10", "10.24", 9_446),
    ("eresfd-20", "22.27", 20_540),
    ("eresfd-30", "31.59", 29_135),
    ("eresfd-40", "40.02", 36_904),
    ("eresfd-50", "50.37", 46_448),
    ("eresfd-60", "59.87", 55_208),
    ("extd-original", "0.00", 0),
    ("extd-20", "20.30", 32_960),
];

/// Zero filters per set of EResFD convs, for the original and the 10..60 % models
/// (`docs/upstream.md` §zero-filters).
fn eresfd_zeros(set: &str) -> [usize; 7] {
    match set {
        "conv1+2" => [0, 0, 0, 1, 0, 0, 0],
        "conv3+4" | "heads" => [0; 7],
        "layer1+2" => [0, 0, 0, 4, 7, 6, 12],
        "layer3..5" => [0, 3, 6, 7, 9, 11, 12],
        "fpn" => [0, 3, 6, 5, 3, 9, 12],
        "itm.3" => [0, 5, 9, 8, 5, 14, 15],
        "cpm 8" => [0, 1, 3, 3, 3, 5, 1],
        "cpm 4" => [0, 0, 1, 1, 1, 2, 0],
        other => panic!("no set {other}"),
    }
}

/// The set of `docs/upstream.md` §zero-filters an EResFD conv belongs to.
fn eresfd_set(path: &str) -> &'static str {
    let under = |p: &str| path.starts_with(&format!("{p}."));
    if under("base.conv1") || under("base.conv2") {
        "conv1+2"
    } else if under("base.conv3") || under("base.conv4") {
        "conv3+4"
    } else if under("base.m0.layer1") || under("base.m0.layer2") {
        "layer1+2"
    } else if ["base.m0.layer3", "base.m0.layer4", "base.m0.layer5"]
        .iter()
        .any(|p| under(p))
    {
        "layer3..5"
    } else if path == "base.m0.layer6.itm.3.conv.0" {
        "itm.3"
    } else if under("base.m0.layer6") {
        "fpn"
    } else if path.ends_with("res_branch1.0") {
        "cpm 8"
    } else if path.contains(".res_branch") {
        "cpm 4"
    } else if under("loc") || under("conf") {
        "heads"
    } else {
        panic!("{path} is in no set of docs/upstream.md §zero-filters")
    }
}

/// Zero filters of EXTD-20's convs, the original has none (`docs/upstream.md` §zero-filters).
fn extd20_zeros(path: &str) -> usize {
    match path {
        "base.0.0" | "base.1.conv.0" | "base.1.conv.3" => 19,
        "base.2.conv.0" | "base.2.conv.3" | "base.3.conv.0" | "base.3.conv.3" => 20,
        "base.2.conv.6" | "base.3.conv.6" => 10,
        "base.4.conv.0" | "base.4.conv.3" => 82,
        "base.4.conv.6" => 20,
        "base.5.conv.0" | "base.5.conv.3" => 55,
        "base.5.conv.6" => 13,
        p if p.starts_with("upfeat.") => 19,
        p if p.starts_with("loc.") || p.starts_with("conf.") => 0,
        p => panic!("{p} is not an EXTD conv of docs/upstream.md §zero-filters"),
    }
}

/// `[lo, hi)` in percent of the rates that zero exactly `zero` of `filters` filters, intersected
/// over several convs, by hand.
fn range(convs: &[(usize, usize)]) -> (f64, f64) {
    let lo = convs
        .iter()
        .map(|&(z, o)| z as f64 / o as f64)
        .fold(0.0, f64::max);
    let hi = convs
        .iter()
        .map(|&(z, o)| (z + 1) as f64 / o as f64)
        .fold(1.0, f64::min);
    (100.0 * lo, 100.0 * hi)
}

fn tables_json() -> Value {
    let data = fetched_zoo(&[]);
    serde_json::from_str(&run_ok(reproduce(&data).args(["tables", "--json"]))).unwrap()
}

fn pct(range: &Value) -> Option<(f64, f64)> {
    (!range.is_null()).then(|| {
        (
            100.0 * range["lo"].as_f64().unwrap(),
            100.0 * range["hi"].as_f64().unwrap(),
        )
    })
}

#[test]
fn tables_json_measures_the_nine_checkpoints() {
    crate::require_mirror!();
    let doc = tables_json();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["grouping"], "checkpoint");
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0]["arch"], "eresfd");
    assert_eq!(tables[0]["grouping"], "checkpoint");
    assert_eq!(tables[1]["arch"], "extd");
    assert!(tables[1]["grouping"].is_null());

    let rows: Vec<&Value> = tables
        .iter()
        .flat_map(|t| t["rows"].as_array().unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(names, MODELS.map(|(n, _, _)| n));
    for (row, (name, sparsity, zeros)) in rows.iter().zip(MODELS) {
        let s = &row["sparsity"];
        assert_eq!(
            format!("{:.2}", s["truncated"].as_f64().unwrap()),
            sparsity,
            "{name}"
        );
        assert_eq!(row["zero_params"], zeros, "{name}");
        let total = row["params"].as_f64().unwrap();
        assert_eq!(
            s["measured"].as_f64().unwrap(),
            100. * zeros as f64 / total,
            "{name}"
        );
    }
    // Parameters and zero filters over all convs (docs/upstream.md §checkpoint-files,
    // §zero-filters).
    let params: Vec<u64> = rows.iter().map(|r| r["params"].as_u64().unwrap()).collect();
    assert_eq!(
        params,
        [92_208; 7]
            .into_iter()
            .chain([162_352; 2])
            .collect::<Vec<_>>()
    );
    let zero_filters: Vec<u64> = rows
        .iter()
        .map(|r| r["zero_filters"].as_u64().unwrap())
        .collect();
    assert_eq!(zero_filters, [0, 86, 201, 267, 322, 435, 489, 0, 654]);

    // Every conv's zero filters, as tabulated in docs/upstream.md §zero-filters.
    for (i, row) in rows[..7].iter().enumerate() {
        let convs = row["convs"].as_array().unwrap();
        assert_eq!(convs.len(), 87);
        for c in convs {
            let path = c["path"].as_str().unwrap();
            let want = eresfd_zeros(eresfd_set(path))[i];
            assert_eq!(c["zero_filters"], want, "{} {path}", names[i]);
            assert_eq!(c["dead_input"], path == "base.m0.layer6.itm.3.conv.0");
        }
    }
    for (i, row) in rows[7..].iter().enumerate() {
        let convs = row["convs"].as_array().unwrap();
        assert_eq!(convs.len(), 37);
        for c in convs {
            let path = c["path"].as_str().unwrap();
            let want = if i == 0 { 0 } else { extd20_zeros(path) };
            assert_eq!(c["zero_filters"], want, "{} {path}", names[7 + i]);
        }
    }
}

#[test]
fn group_rates_are_the_ones_the_zero_filters_imply() {
    crate::require_mirror!();
    let doc = tables_json();
    let eresfd = doc["tables"][0]["rows"].as_array().unwrap();
    for (i, row) in eresfd.iter().enumerate() {
        let z = |set: &str| eresfd_zeros(set)[i];
        // The checkpoint-consistent groups (docs/upstream.md §groups); itm.3 only bounds G5 from
        // above, and its bound is never the tighter one.
        let expected = [
            range(&[(z("conv1+2"), 8)]),
            range(&[(z("conv3+4"), 16)]),
            range(&[(z("layer1+2"), 16)]),
            range(&[(z("layer3..5"), 16)]),
            range(&[(z("fpn"), 16)]),
            range(&[(z("cpm 8"), 8), (z("cpm 4"), 4)]),
        ];
        let cells = row["groups"].as_array().unwrap();
        let got: Vec<(f64, f64)> = cells.iter().map(|c| pct(&c["measured"]).unwrap()).collect();
        assert_eq!(got, expected, "{}", row["model"]);
    }
    // docs/upstream.md §released-rates, the 10 % model: G1 < 12.5 %, G2 < 6.25 %, G3 < 6.25 %, G4
    // and G5 in [18.75, 25) %, G6 in [12.5, 25) %.
    let ten: Vec<(f64, f64)> = eresfd[1]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| pct(&c["measured"]).unwrap())
        .collect();
    assert_eq!(
        ten,
        [
            (0.0, 12.5),
            (0.0, 6.25),
            (0.0, 6.25),
            (18.75, 25.0),
            (18.75, 25.0),
            (12.5, 25.0)
        ]
    );

    // ⌊r · O⌋ of the README rates gives the weights' zeros everywhere except G1 and G3 of the
    // 10 % model and G5 of the 50 % model, whose rate is at least 56.25 % (§released-rates).
    let all_rows: Vec<&Value> = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["rows"].as_array().unwrap())
        .collect();
    let mut disagreeing = Vec::new();
    for row in &all_rows {
        for c in row["groups"].as_array().unwrap() {
            assert_eq!(c["reproduces"], c["within_rounding"]);
            if c["reproduces"] == false {
                disagreeing.push(format!(
                    "{} G{}",
                    row["model"].as_str().unwrap(),
                    c["group"]
                ));
            }
        }
    }
    assert_eq!(
        disagreeing,
        ["eresfd-10 G1", "eresfd-10 G3", "eresfd-50 G5"]
    );
    let g5 = &eresfd[5]["groups"][4];
    assert_eq!(pct(&g5["measured"]), Some((56.25, 62.5)));
    let predicted: Vec<(u64, u64)> = g5["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["predicted"].as_u64().unwrap(),
                m["zero_filters"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(predicted, [(8, 9); 8]);

    // EXTD-20 (docs/upstream.md §released-rates): e.g. G3 needs ⌊r · 256⌋ = 82 and ⌊r · 64⌋ = 20.
    let extd: Vec<(f64, f64)> = doc["tables"][1]["rows"][1]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| pct(&c["measured"]).unwrap())
        .collect();
    assert_eq!(
        extd,
        [
            range(&[(19, 64)]),
            range(&[(20, 128), (10, 64)]),
            range(&[(82, 256), (20, 64)]),
            range(&[(55, 256), (13, 64)]),
            range(&[(19, 64)]),
            range(&[(0, 4), (0, 2)]),
        ]
    );

    // Marked rows: the README's 0 for the unpruned EResFD (0.0868 %), and the two above.
    let marked: Vec<&str> = all_rows
        .iter()
        .filter(|r| r["marked"] == true)
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(marked, ["eresfd-original", "eresfd-10", "eresfd-50"]);
}

#[test]
fn text_and_markdown_show_both_tables_with_notes_and_grouping() {
    crate::require_mirror!();
    let data = fetched_zoo(&[]);
    let text = run_ok(reproduce(&data).arg("tables"));
    let eresfd = text.find("EResFD: pruning rate per layer group").unwrap();
    let extd = text.find("EXTD: pruning rate per layer group").unwrap();
    assert!(eresfd < extd);
    let (first, second) = text.split_at(extd);
    assert!(first.contains("Pruned 10 % [2]  published"), "{first}");
    assert!(first.contains("These README rates belong to an earlier 10 % run"));
    assert!(first.contains("base.m0.layer6.itm.3.conv.0 holds more zero filters"));
    assert!(first.contains("] Groups: checkpoint-consistent grouping"));
    // Each note ends with where its fact comes from, in this repository's docs (which sections
    // exist is `tests/layers.rs`' check).
    for cited in [
        "still at their initial value (docs/upstream.md §checkpoint-values)",
        "kept the rate cells (docs/upstream.md §released-rates).",
        "step accumulate (docs/upstream.md §sfp).",
        "README rates follow (docs/upstream.md §groups)",
    ] {
        assert!(first.contains(cited), "{cited}");
    }
    assert!(second.contains("] Groups: EXTD's only grouping"));
    let extd_deltas: Vec<&str> = second
        .lines()
        .filter(|l| l.trim_start().starts_with("Δ "))
        .collect();
    assert_eq!(extd_deltas.len(), 2);
    assert!(extd_deltas.iter().all(|l| !l.contains('✗')), "{second}");

    let md = run_ok(reproduce(&data).args(["tables", "--markdown"]));
    let rows = markdown_rows(&md);
    let has = |cells: &[&str]| rows.iter().any(|r| r == cells);
    assert!(
        has(&["model", "", "G1", "G2", "G3", "G4", "G5", "G6", "Sparsity"]),
        "{md}"
    );
    // The seven numeric columns (G1..G6, Sparsity) are marked right-aligned.
    assert!(
        md.lines()
            .any(|l| l.starts_with("|---") && l.matches("-:|").count() == 7),
        "{md}"
    );
    assert!(
        has(&[
            "Pruned 30 %",
            "published",
            "21.3",
            "4.5",
            "30.5",
            "47.1",
            "32.1",
            "44.8",
            "31.59"
        ]),
        "{md}"
    );
    assert!(has(&[
        "",
        "weights",
        "12.5–25",
        "0–6.25",
        "25–31.25",
        "43.75–50",
        "31.25–37.5",
        "37.5–50",
        "31.59 (31.5970)"
    ]));
    assert!(md.contains("\n2. Pruned 10 % (eresfd-10): G1:"));
}

#[test]
fn the_upstream_code_grouping_fits_no_pruned_model() {
    crate::require_mirror!();
    let data = fetched_zoo(&[]);
    let doc: Value = serde_json::from_str(&run_ok(reproduce(&data).args([
        "tables",
        "--json",
        "--grouping",
        "upstream-code",
    ])))
    .unwrap();
    assert_eq!(doc["tables"][0]["grouping"], "upstream-code");
    assert_eq!(
        doc["tables"][0]["groups"][0],
        serde_json::json!(["base.conv1", "base.conv2", "base.conv3"])
    );
    // docs/upstream.md §groups: the committed grouping matches 0 of the 6 released models. In the
    // 30 % model conv1 (1 zero of 8) and conv3 (0 of 16) share G1, so no single rate fits.
    let rows = doc["tables"][0]["rows"].as_array().unwrap();
    for row in &rows[1..] {
        assert_eq!(row["marked"], true, "{}", row["model"]);
    }
    assert!(rows[3]["groups"][0]["measured"].is_null());
    // EXTD has one grouping, whichever is asked for.
    assert!(doc["tables"][1]["grouping"].is_null());
}

/// The cells of every Markdown table row in `md`, trimmed (cells are padded to their column).
fn markdown_rows(md: &str) -> Vec<Vec<String>> {
    md.lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}
