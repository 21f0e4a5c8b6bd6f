//! The shape of the code, checked: each crate's top-level modules form layers (a module uses only
//! modules of lower layers; the table below is the design), and no two files of one module use
//! each other in a loop. Read from the sources: `crate::` and `super::` paths outside comments
//! and outside the `#[cfg(test)]` part at the end of a file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `bfpgm-core`'s top-level modules by layer: a module may use its own layer's modules only if
/// listed in a lower layer, so every entry is (module, layer).
const CORE: &[(&str, u32)] = &[
    ("fsutil", 0),
    ("progress", 0),
    ("quiet_panic", 0),
    ("device", 0),
    ("hash", 1),
    ("zoo", 1),
    ("imageio", 1),
    ("checkpoint", 2),
    ("groups", 2),
    ("fetch", 2),
    ("wider", 2),
    ("tradeoff", 2),
    ("measure", 3),
    ("record", 4),
    ("report", 5),
    ("check", 6),
    ("cli", 7),
];

/// `bfpgm`'s top-level modules by layer (everything of `bfpgm-core` is below them all).
const TORCH: &[(&str, u32)] = &[
    ("device", 0),
    ("tensors", 0),
    ("simd", 0),
    ("resize", 0),
    ("model", 1),
    ("protocol", 1),
    ("eval", 2),
    ("train", 2),
    ("export", 2),
    ("prune", 3),
    ("cli", 4),
];

/// A source file's module path, e.g. `["eval", "infer"]` for `src/eval/infer.rs`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module paths a file refers to through `crate::` and `super::`, resolved to absolute paths.
fn references(module: &[String], is_mod_file: bool, text: &str) -> BTreeSet<Vec<String>> {
    let code = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line
            .match_indices("crate::")
            .chain(line.match_indices("super::"))
        {
            let before = line[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let path: Vec<&str> = line[i..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap()
                .split("::")
                .filter(|s| !s.is_empty())
                .collect();
            let (mut base, rest) = match path[0] {
                "crate" => (Vec::new(), &path[1..]),
                _ => {
                    // `super` in `a/b.rs` (module a::b) is `a`; in `a/mod.rs` (module a) it is
                    // the crate root.
                    let mut base = module.to_vec();
                    let ups = path.iter().take_while(|p| **p == "super").count();
                    let drop = if is_mod_file { ups } else { ups.max(1) };
                    base.truncate(base.len().saturating_sub(drop));
                    (base, &path[ups..])
                }
            };
            base.extend(rest.iter().map(|s| s.to_string()));
            found.insert(base);
        }
    }
    found
}

/// Checks one crate: layers of its top-level modules, and loops between sibling files.
fn check_crate(root: &Path, layers: &[(&str, u32)]) -> Vec<String> {
    let layer: BTreeMap<&str, u32> = layers.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let module = module_of(root, file);
        let Some(top) = module.first() else { continue };
        if top == "testutil" || top == "main" || top == "bin" {
            continue;
        }
        let is_mod_file = file.file_stem().is_some_and(|s| s == "mod");
        let text = std::fs::read_to_string(file).unwrap();
        for target in references(&module, is_mod_file, &text) {
            let Some(other) = target.first() else {
                continue;
            };
            if other != top {
                match (layer.get(top.as_str()), layer.get(other.as_str())) {
                    (Some(a), Some(b)) if b < a => {}
                    (Some(_), Some(_)) => problems.push(format!(
                        "{} uses {} of a layer that is not below its own",
                        file.display(),
                        target.join("::")
                    )),
                    _ => problems.push(format!(
                        "{}: module {top} or {other} has no layer in tests/layers.rs",
                        file.display()
                    )),
                }
                continue;
            }
            // The file this path lands in: the longest module prefix that is a file.
            let node = (1..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|m| modules.contains(m));
            if let Some(node) = node
                && node != module
                && !is_mod_file
                && !(node.len() < module.len() && module.starts_with(&node))
            {
                edges.entry(module.clone()).or_default().insert(node);
            }
        }
    }
    for (from, tos) in &edges {
        for to in tos {
            if reaches(&edges, to, from, &mut BTreeSet::new()) {
                problems.push(format!(
                    "{} and {} use each other (a loop)",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    problems
}

fn reaches(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    from: &Vec<String>,
    to: &Vec<String>,
    seen: &mut BTreeSet<Vec<String>>,
) -> bool {
    if from == to {
        return true;
    }
    if !seen.insert(from.clone()) {
        return false;
    }
    edges
        .get(from)
        .is_some_and(|next| next.iter().any(|n| reaches(edges, n, to, seen)))
}

#[test]
fn modules_use_only_lower_layers_and_files_form_no_loops() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = check_crate(&repo.join("core/src"), CORE);
    problems.extend(check_crate(&repo.join("src"), TORCH));
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_a_loop_and_a_layer_violation() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("eval")).unwrap();
    std::fs::write(src.join("eval/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("eval/a.rs"), "use super::b::B;\n").unwrap();
    std::fs::write(
        src.join("eval/b.rs"),
        "use crate::eval::a::A;\n// use crate::cli::X; (a comment)\n",
    )
    .unwrap();
    std::fs::write(src.join("model.rs"), "use crate::eval::a::A;\n").unwrap();
    let problems = check_crate(src, &[("model", 1), ("eval", 2)]);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("eval::a and eval::b use each other")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("model.rs uses eval::a::A of a layer")),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
}

/// Notes of the team's shared reference folder, which is not part of this repository. A file
/// of the repository may name one of them only as its own `docs/` note of the same name.
const OUTSIDE_NOTES: &[&str] = &[
    "baselines",
    "bayesian-optimization",
    "checkpoints",
    "eresfd",
    "extd",
    "paper-results",
    "pruning",
    "reference-outputs",
    "training",
    "wider-eval",
];

/// What a reader of the project reads: code, tests, docs, scripts and the top-level files.
const CITING: &[&str] = &[
    "src",
    "core",
    "tests",
    "docs",
    "scripts",
    "mobile",
    ".ci",
    "Pruned_Models/README.md",
    "README.md",
    "DEVELOPERS.md",
    "zoo.yaml",
    "reproduce",
    "build.rs",
];

/// The section sign that starts a citation of a section, e.g. of `docs/upstream.md`.
const SECTION: char = '\u{a7}';

/// Every file under `path` (or `path` itself), for reading as text.
fn files_under(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            files_under(&entry.unwrap().path(), out);
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
}

/// The section names that headings of `docs/*.md` define (`## <section sign>name ...`).
fn doc_sections(repo: &Path) -> BTreeSet<String> {
    let mut docs = Vec::new();
    files_under(&repo.join("docs"), &mut docs);
    let mut sections = BTreeSet::new();
    for doc in docs
        .iter()
        .filter(|d| d.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(doc).unwrap();
        for heading in text.lines().filter(|l| l.starts_with('#')) {
            sections.extend(section_names(heading).into_iter().map(|(_, name)| name));
        }
    }
    sections
}

/// The `(byte offset, name)` of every section citation in `text`: the section sign, then
/// letters, digits, `-` and `.`, without a trailing `.` or `-` (the end of a sentence).
fn section_names(text: &str) -> Vec<(usize, String)> {
    text.match_indices(SECTION)
        .map(|(i, s)| {
            let name: String = text[i + s.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                .collect();
            (i, name.trim_end_matches(['.', '-']).to_string())
        })
        .collect()
}

/// Citations a reader of the repository cannot follow: a shared note by name (other than the
/// repository's own `docs/` note of that name), the shared folder's notes by path, and a
/// section that no heading of `docs/` defines. The shared folder's data (`outputs/`) is test
/// data, read through `BFPGM_REFERENCE`, and may be named.
fn citation_problems(repo: &Path, roots: &[&str]) -> Vec<String> {
    let sections = doc_sections(repo);
    let shared_notes = ["shared", "reference", ""].join("/");
    let mut files = Vec::new();
    for root in roots {
        files_under(&repo.join(root), &mut files);
    }
    let mut problems = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // not text
        };
        let rel = file.strip_prefix(repo).unwrap().display();
        let line = |at: usize| text[..at].matches('\n').count() + 1;
        for name in OUTSIDE_NOTES {
            let note = format!("{name}.md");
            for (at, _) in text.match_indices(&note) {
                let before = &text[..at];
                if before
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                {
                    continue; // another file's name ends the same way
                }
                if before.ends_with("docs/") && repo.join("docs").join(&note).is_file() {
                    continue;
                }
                problems.push(format!("{rel}:{}: cites {note}", line(at)));
            }
        }
        for (at, _) in text.match_indices(&shared_notes) {
            if !text[at + shared_notes.len()..].starts_with("outputs/") {
                problems.push(format!("{rel}:{}: cites the shared notes folder", line(at)));
            }
        }
        for (at, name) in section_names(&text) {
            if !sections.contains(&name) {
                problems.push(format!(
                    "{rel}:{}: cites section {SECTION}{name}, which no heading of docs/ defines",
                    line(at)
                ));
            }
        }
    }
    problems
}

#[test]
fn every_citation_is_of_a_document_in_the_repository() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let problems = citation_problems(repo, CITING);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_citation_check_sees_notes_outside_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    std::fs::create_dir_all(repo.join("docs")).unwrap();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join("docs/pruning.md"), "# Pruning\n").unwrap();
    std::fs::write(
        repo.join("docs/upstream.md"),
        format!("# Upstream\n\n## {SECTION}groups: the groups\n\nSee {SECTION}groups.\n"),
    )
    .unwrap();
    let shared = ["..", "shared", "reference"].join("/");
    // Built here, so that this file cites no note itself.
    let note = |name: &str| format!("{name}.md");
    let (pruning, eresfd, training) = (note("pruning"), note("eresfd"), note("training"));
    let fine = format!(
        "// docs/pruning.md and docs/upstream.md {SECTION}groups; data in {shared}/outputs/x.npy;\n\
         // my-{pruning} is another file.\n"
    );
    let wrong = format!(
        "// ({pruning} {SECTION}c)\n\
         // {shared}/{eresfd}\n\
         // docs/{training}, which the repository does not have\n\
         // ({SECTION}4.6) and {SECTION}nowhere.\n"
    );
    std::fs::write(repo.join("src/fine.rs"), &fine).unwrap();
    std::fs::write(repo.join("src/wrong.rs"), &wrong).unwrap();
    std::fs::write(repo.join("README.md"), format!("{SECTION}a\n")).unwrap();
    let problems = citation_problems(repo, &["src", "docs", "README.md"]);
    let undefined =
        |name: &str| format!("cites section {SECTION}{name}, which no heading of docs/ defines");
    let mut want = vec![
        format!("src/wrong.rs:1: cites {pruning}"),
        format!("src/wrong.rs:1: {}", undefined("c")),
        format!("src/wrong.rs:2: cites {eresfd}"),
        "src/wrong.rs:2: cites the shared notes folder".to_string(),
        format!("src/wrong.rs:3: cites {training}"),
        format!("src/wrong.rs:4: {}", undefined("4.6")),
        format!("src/wrong.rs:4: {}", undefined("nowhere")),
        format!("README.md:1: {}", undefined("a")),
    ];
    want.sort();
    let mut got = problems;
    got.sort();
    assert_eq!(got, want);
}
