//! WIDER FACE ground truth: events, images, face boxes and the easy/medium/hard keep lists.
//!
//! Two official forms are read into the one [`GroundTruth`] type:
//!
//! * the MATLAB files of the evaluation kit (`wider_face_val.mat` and
//!   `wider_{easy,medium,hard}_val.mat`, or `wider_face_train.mat`), with `matrw`. The layout is
//!   `docs/upstream.md` §gt-mat: 61×1 cells `event_list`, `file_list` and
//!   `face_bbx_list` (int32 m×4 `[x y w h]`, column-major), and in the three setting files
//!   `gt_list`, the 1-based rows of the faces that count in that setting;
//! * the split files `wider_face_{train,val}_bbx_gt.txt` (§wider-txt): an image path, a
//!   face count, then one `x y w h` line with six attribute columns per face; an image with no
//!   face is followed by one dummy line of zeros.
//!
//! Every structural fact the evaluation relies on is checked on load, and errors name the file
//! and the variable (or line). For WIDER val the counts of §gt-mat are checked too, so a truncated
//! or foreign file cannot produce a plausible-looking AP.
//!
//! The two forms disagree on one box of 39,708: `wider_face_val.mat` stores face 7 (0-based) of
//! `39--Ice_Skating/39_Ice_Skating_iceskiing_39_583` as `[1026 474 -2 23]`, the text file as
//! `[1026 474 0 23]`. The evaluation uses the `.mat` value, as upstream does.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use matrw::{CellArray, MatFile, MatVariable, MatlabType, NumericArray};
use serde::Serialize;

use super::matfile::{MatVars, read_vars};

/// Events in WIDER FACE val (`docs/upstream.md` §gt-mat).
pub const VAL_EVENTS: usize = 61;
/// Images in WIDER FACE val.
pub const VAL_IMAGES: usize = 3226;
/// Face boxes in WIDER FACE val.
pub const VAL_BOXES: usize = 39_708;

/// The variables that hold events, images and boxes.
const BOX_VARS: [&str; 3] = ["event_list", "file_list", "face_bbx_list"];

/// The three official difficulty settings, in the order upstream evaluates and reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// Large, clear faces (`wider_easy_val.mat`).
    Easy,
    /// `wider_medium_val.mat`.
    Medium,
    /// Nearly every face, tiny ones included (`wider_hard_val.mat`).
    Hard,
}

impl Setting {
    /// All settings in upstream's order: easy, medium, hard.
    pub const ALL: [Setting; 3] = [Setting::Easy, Setting::Medium, Setting::Hard];

    /// The lower-case name used in file names, tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Setting::Easy => "easy",
            Setting::Medium => "medium",
            Setting::Hard => "hard",
        }
    }

    /// Position in [`Setting::ALL`], for per-setting arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The four `.mat` files of the WIDER val evaluation kit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValMatFiles {
    /// `wider_face_val.mat`: events, images and boxes.
    pub face: PathBuf,
    /// `wider_easy_val.mat`, `wider_medium_val.mat`, `wider_hard_val.mat`, in [`Setting`] order.
    pub settings: [PathBuf; 3],
}

impl ValMatFiles {
    /// The four files under their upstream names in one folder (upstream's `gt_path`).
    pub fn in_dir(dir: &Path) -> ValMatFiles {
        ValMatFiles {
            face: dir.join("wider_face_val.mat"),
            settings: Setting::ALL.map(|s| dir.join(format!("wider_{}_val.mat", s.name()))),
        }
    }
}

/// The ground truth of a WIDER FACE split, in the order of its files.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// Where it was read from, for messages and reports.
    pub source: String,
    /// Events in file order; for val this is the `.mat` order that upstream iterates.
    pub events: Vec<Event>,
}

/// One event (scene category) and its images.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Folder name, e.g. `0--Parade`.
    pub name: String,
    /// Images in file order.
    pub images: Vec<Image>,
}

/// One image and its annotated faces.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Base name without `.jpg`, e.g. `0_Parade_marchingband_1_465`.
    pub name: String,
    /// Faces as `[x, y, w, h]` in pixels, exactly as stored (some have `w <= 0` or `h <= 0`).
    pub boxes: Vec<[i32; 4]>,
    /// Per setting, the 0-based rows of `boxes` that count; every other face is ignored.
    /// Present only when read from the four val `.mat` files. Kept in file order, duplicates
    /// included, because upstream counts `len(gt_list{i}{j})` faces.
    pub keep: Option<[Vec<u32>; 3]>,
}

impl GroundTruth {
    /// Reads WIDER val from the four evaluation `.mat` files and checks it against the official
    /// counts (61 events, 3,226 images, 39,708 boxes).
    pub fn load_val(files: &ValMatFiles) -> Result<GroundTruth> {
        // The four files are independent until they are combined: read them side by side.
        let (face, settings) = std::thread::scope(|scope| {
            let settings: Vec<_> = files
                .settings
                .iter()
                .map(|path| scope.spawn(move || read_vars(path, &["event_list", "gt_list"])))
                .collect();
            let face = read_vars(&files.face, &BOX_VARS);
            let settings: Vec<Result<MatVars>> = settings
                .into_iter()
                .map(|h| h.join().expect("reading a .mat file does not panic"))
                .collect();
            (face, settings)
        });
        let mut face = face?;
        if face.names.iter().any(|n| n == "gt_list") {
            bail!(
                "{}: it holds a gt_list variable, so it is one of the setting files \
                 (wider_{{easy,medium,hard}}_val.mat), not wider_face_val.mat; give the kit's four \
                 files under their own names",
                files.face.display()
            );
        }
        let mut gt = read_boxes(&mut face.mat, &files.face)?;
        for ((setting, path), vars) in Setting::ALL.into_iter().zip(&files.settings).zip(settings) {
            let vars = vars?;
            if !vars.names.iter().any(|n| n == "gt_list") {
                bail!(
                    "{}: it has no gt_list variable, so it is not wider_{setting}_val.mat (is \
                     wider_face_val.mat in its place?); give the kit's four files under their \
                     own names",
                    path.display()
                );
            }
            let mut mat = vars.mat;
            let events = event_names(&mut mat, path)?;
            if !events.iter().eq(gt.events.iter().map(|e| &e.name)) {
                bail!(
                    "{}: its event_list differs from that of {}: the two files are not from the \
                     same evaluation kit",
                    path.display(),
                    files.face.display()
                );
            }
            read_gt_list(&mut mat, path, &mut gt, setting)?;
        }
        gt.check_val_counts()?;
        gt.check_nested(files)?;
        Ok(gt)
    }

    /// Reads the events, images and boxes of one `.mat` file of the kit, e.g. the
    /// `wider_face_train.mat` split file (no keep lists).
    pub fn load_mat(path: &Path) -> Result<GroundTruth> {
        let mut vars = read_vars(path, &BOX_VARS)?;
        read_boxes(&mut vars.mat, path)
    }

    /// Parses the official split text format (`wider_face_{train,val}_bbx_gt.txt`).
    pub fn parse_txt(path: &Path) -> Result<GroundTruth> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the ground truth {}", path.display()))?;
        parse_txt_str(&text, &path.display().to_string())
    }

    /// Number of images over all events.
    pub fn image_count(&self) -> usize {
        self.events.iter().map(|e| e.images.len()).sum()
    }

    /// Number of face boxes over all images.
    pub fn box_count(&self) -> usize {
        self.events
            .iter()
            .flat_map(|e| &e.images)
            .map(|i| i.boxes.len())
            .sum()
    }

    /// Checks that every face the easy setting keeps is kept by medium, and every face medium
    /// keeps by hard, as the official settings are built: two setting files given in each
    /// other's place break it.
    fn check_nested(&self, files: &ValMatFiles) -> Result<()> {
        for event in &self.events {
            for image in &event.images {
                let Some(keep) = &image.keep else { continue };
                for (inner, outer) in [
                    (Setting::Easy, Setting::Medium),
                    (Setting::Medium, Setting::Hard),
                ] {
                    let wider: std::collections::HashSet<u32> =
                        keep[outer.index()].iter().copied().collect();
                    if let Some(row) = keep[inner.index()].iter().find(|r| !wider.contains(r)) {
                        bail!(
                            "{}: the {outer} setting leaves out face {row} of {}/{}, which {} \
                             keeps for {inner}; every {inner} face is also a {outer} face, so \
                             the two files are swapped or not from the official kit",
                            files.settings[outer.index()].display(),
                            event.name,
                            image.name,
                            files.settings[inner.index()].display()
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn check_val_counts(&self) -> Result<()> {
        let found = (self.events.len(), self.image_count(), self.box_count());
        if found != (VAL_EVENTS, VAL_IMAGES, VAL_BOXES) {
            bail!(
                "{}: {} events, {} images, {} boxes, but WIDER FACE val has {VAL_EVENTS}, \
                 {VAL_IMAGES} and {VAL_BOXES}: not the official file; re-fetch it with \
                 `reproduce fetch wider-gt`",
                self.source,
                found.0,
                found.1,
                found.2
            );
        }
        Ok(())
    }
}

/// Where a value sits in a `.mat` file, e.g. `wider_face_val.mat: face_bbx_list{3}{17}`.
struct At<'a> {
    path: &'a Path,
    var: &'a str,
    idx: Vec<usize>,
}

impl At<'_> {
    fn err(&self, why: impl fmt::Display) -> anyhow::Error {
        anyhow!("{}: {}: {why}", self.path.display(), self)
    }

    fn sub(&self, i: usize) -> At<'_> {
        let mut idx = self.idx.clone();
        idx.push(i);
        At {
            path: self.path,
            var: self.var,
            idx,
        }
    }
}

impl fmt::Display for At<'_> {
    /// MATLAB notation with 1-based indices, as the variable would be addressed in MATLAB.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.var)?;
        for i in &self.idx {
            write!(f, "{{{}}}", i + 1)?;
        }
        Ok(())
    }
}

fn take_var(mat: &mut MatFile, path: &Path, name: &str) -> Result<MatVariable> {
    mat.take(name)
        .ok_or_else(|| anyhow!("{}: no variable '{name}'", path.display()))
}

/// The elements of an N×1 (or 1×N) cell array.
fn cells(v: MatVariable, at: &At<'_>) -> Result<Vec<MatVariable>> {
    match v {
        MatVariable::CellArray(CellArray { dim, value }) => {
            if dim.len() != 2 || dim.iter().filter(|&&d| d != 1).count() > 1 {
                return Err(at.err(format!("a cell vector was expected, found {dim:?}")));
            }
            Ok(value)
        }
        other => Err(at.err(format!("a cell array was expected, found {}", kind(&other)))),
    }
}

fn kind(v: &MatVariable) -> String {
    match v {
        MatVariable::NumericArray(n) => format!("a {:?} numeric array", n.dim),
        MatVariable::CellArray(c) => format!("a {:?} cell array", c.dim),
        MatVariable::Structure(_) | MatVariable::StructureArray(_) => "a struct".to_string(),
        MatVariable::SparseArray(_) => "a sparse array".to_string(),
        _ => "an unsupported value".to_string(),
    }
}

fn string(v: MatVariable, at: &At<'_>) -> Result<String> {
    match v {
        MatVariable::NumericArray(NumericArray {
            value: MatlabType::UTF8(chars) | MatlabType::UTF16(chars),
            ..
        }) => Ok(chars.into_iter().collect()),
        other => Err(at.err(format!("a string was expected, found {}", kind(&other)))),
    }
}

fn event_names(mat: &mut MatFile, path: &Path) -> Result<Vec<String>> {
    let at = At {
        path,
        var: "event_list",
        idx: vec![],
    };
    let names: Vec<String> = cells(take_var(mat, path, "event_list")?, &at)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| string(v, &at.sub(i)))
        .collect::<Result<_>>()?;
    Ok(names)
}

/// Events, images and boxes from `event_list`, `file_list` and `face_bbx_list`.
fn read_boxes(mat: &mut MatFile, path: &Path) -> Result<GroundTruth> {
    let names = event_names(mat, path)?;
    let at_files = At {
        path,
        var: "file_list",
        idx: vec![],
    };
    let at_boxes = At {
        path,
        var: "face_bbx_list",
        idx: vec![],
    };
    let files = cells(take_var(mat, path, "file_list")?, &at_files)?;
    let boxes = cells(take_var(mat, path, "face_bbx_list")?, &at_boxes)?;
    if files.len() != names.len() || boxes.len() != names.len() {
        bail!(
            "{}: event_list has {} events but file_list {} and face_bbx_list {}",
            path.display(),
            names.len(),
            files.len(),
            boxes.len()
        );
    }
    let mut events = Vec::with_capacity(names.len());
    for (i, ((name, files), boxes)) in names.into_iter().zip(files).zip(boxes).enumerate() {
        let (at_f, at_b) = (at_files.sub(i), at_boxes.sub(i));
        let files = cells(files, &at_f)?;
        let boxes = cells(boxes, &at_b)?;
        if files.len() != boxes.len() {
            return Err(at_b.err(format!(
                "{} box lists for the {} images of {name} in file_list",
                boxes.len(),
                files.len()
            )));
        }
        let images = files
            .into_iter()
            .zip(boxes)
            .enumerate()
            .map(|(j, (f, b))| {
                Ok(Image {
                    name: string(f, &at_f.sub(j))?,
                    boxes: box_rows(b, &at_b.sub(j))?,
                    keep: None,
                })
            })
            .collect::<Result<_>>()?;
        events.push(Event { name, images });
    }
    Ok(GroundTruth {
        source: path.display().to_string(),
        events,
    })
}

/// An int32 m×4 array (column-major) as rows `[x, y, w, h]`; any empty array is zero faces.
fn box_rows(v: MatVariable, at: &At<'_>) -> Result<Vec<[i32; 4]>> {
    let MatVariable::NumericArray(NumericArray { dim, value, .. }) = v else {
        return Err(at.err(format!(
            "an int32 m×4 array was expected, found {}",
            kind(&v)
        )));
    };
    let MatlabType::I32(data) = value else {
        return Err(at.err(format!("int32 boxes were expected, found {value:?}")));
    };
    if data.is_empty() {
        return Ok(Vec::new());
    }
    if dim.len() != 2 || dim[1] != 4 {
        return Err(at.err(format!("an m×4 box array was expected, found {dim:?}")));
    }
    let m = dim[0];
    Ok((0..m)
        .map(|r| [data[r], data[m + r], data[2 * m + r], data[3 * m + r]])
        .collect())
}

/// Stores `gt_list` of one setting file into the images' keep lists.
fn read_gt_list(
    mat: &mut MatFile,
    path: &Path,
    gt: &mut GroundTruth,
    setting: Setting,
) -> Result<()> {
    let at = At {
        path,
        var: "gt_list",
        idx: vec![],
    };
    let events = cells(take_var(mat, path, "gt_list")?, &at)?;
    if events.len() != gt.events.len() {
        return Err(at.err(format!(
            "{} events, but the ground truth has {}",
            events.len(),
            gt.events.len()
        )));
    }
    for (i, (v, event)) in events.into_iter().zip(&mut gt.events).enumerate() {
        let at_e = at.sub(i);
        let lists = cells(v, &at_e)?;
        if lists.len() != event.images.len() {
            return Err(at_e.err(format!(
                "{} entries for the {} images of {}",
                lists.len(),
                event.images.len(),
                event.name
            )));
        }
        for (j, (v, image)) in lists.into_iter().zip(&mut event.images).enumerate() {
            let rows = keep_rows(v, &at_e.sub(j), image.boxes.len(), setting)?;
            image.keep.get_or_insert_with(Default::default)[setting.index()] = rows;
        }
    }
    Ok(())
}

/// One `gt_list{i}{j}`: a double k×1 vector of 1-based face rows (stored as uint8/uint16).
fn keep_rows(v: MatVariable, at: &At<'_>, faces: usize, setting: Setting) -> Result<Vec<u32>> {
    let MatVariable::NumericArray(NumericArray { value, .. }) = v else {
        return Err(at.err(format!("an index vector was expected, found {}", kind(&v))));
    };
    let values: Vec<f64> = match value {
        MatlabType::F64(v) => v,
        MatlabType::U8(v) => v.into_iter().map(f64::from).collect(),
        MatlabType::U16(v) => v.into_iter().map(f64::from).collect(),
        other => return Err(at.err(format!("numeric indices were expected, found {other:?}"))),
    };
    values
        .into_iter()
        .map(|x| {
            if x.fract() == 0.0 && x >= 1.0 && x <= faces as f64 {
                Ok(x as u32 - 1)
            } else {
                Err(at.err(format!(
                    "{setting} face index {x} is not a row of the image's {faces} boxes"
                )))
            }
        })
        .collect()
}

/// The split text format; `source` names the file in errors.
fn parse_txt_str(text: &str, source: &str) -> Result<GroundTruth> {
    let mut events: Vec<Event> = Vec::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let err = |line: usize, why: String| anyhow!("{source} line {line}: {why}");
    while let Some((n, path_line)) = lines.next() {
        let path_line = path_line.trim_end();
        if path_line.is_empty() {
            // Only trailing blank lines are allowed.
            if let Some((m, l)) = lines.find(|(_, l)| !l.trim().is_empty()) {
                return Err(err(
                    m,
                    format!("'{l}' follows a blank line; expected the end"),
                ));
            }
            break;
        }
        let (event, file) = path_line.split_once('/').ok_or_else(|| {
            err(
                n,
                format!("expected an image path '<event>/<name>.jpg', found '{path_line}'"),
            )
        })?;
        let name = file
            .strip_suffix(".jpg")
            .filter(|s| !s.is_empty() && !s.contains('/'));
        let Some(name) = name else {
            return Err(err(n, format!("'{path_line}' is not '<event>/<name>.jpg'")));
        };
        let (cn, count_line) = lines
            .next()
            .ok_or_else(|| err(n, format!("'{path_line}' has no face count line after it")))?;
        let count: usize = count_line.trim().parse().map_err(|_| {
            err(
                cn,
                format!("expected the face count of {path_line}, found '{count_line}'"),
            )
        })?;
        let mut boxes = Vec::with_capacity(count);
        // An image without faces is followed by one dummy line of zeros.
        for k in 0..count.max(1) {
            let (bn, line) = lines.next().ok_or_else(|| {
                err(
                    cn,
                    format!("{path_line}: {count} faces announced, the file ends after {k}"),
                )
            })?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let values: Vec<i32> = fields
                .iter()
                .map(|f| f.parse::<i32>())
                .collect::<Result<_, _>>()
                .map_err(|_| err(bn, format!("expected 10 integers, found '{line}'")))?;
            if values.len() != 10 {
                return Err(err(
                    bn,
                    format!("expected 10 integers, found {}", values.len()),
                ));
            }
            if count == 0 {
                if values.iter().any(|&v| v != 0) {
                    return Err(err(
                        bn,
                        format!("{path_line} has 0 faces; expected a line of zeros"),
                    ));
                }
            } else {
                boxes.push([values[0], values[1], values[2], values[3]]);
            }
        }
        let image = Image {
            name: name.to_string(),
            boxes,
            keep: None,
        };
        match events.iter_mut().find(|e| e.name == event) {
            Some(e) => e.images.push(image),
            None => events.push(Event {
                name: event.to_string(),
                images: vec![image],
            }),
        }
    }
    ensure!(!events.is_empty(), "{source}: no images");
    Ok(GroundTruth {
        source: source.to_string(),
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{mirror_file, reference_file};

    fn val() -> Option<GroundTruth> {
        let face = mirror_file("wider_face_val.mat")?;
        let dir = face.parent().expect("mirror folder");
        Some(GroundTruth::load_val(&ValMatFiles::in_dir(dir)).expect("the official val kit"))
    }

    #[test]
    fn val_mat_matches_the_documented_facts() {
        let Some(gt) = val() else { return };
        // The order and counts of docs/upstream.md §gt-mat.
        let names: Vec<&str> = gt.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            &names[..4],
            [
                "0--Parade",
                "1--Handshaking",
                "10--People_Marching",
                "11--Meeting"
            ]
        );
        assert_eq!(names[60], "9--Press_Conference");
        let first = &gt.events[0].images[0];
        assert_eq!(first.name, "0_Parade_marchingband_1_465");
        assert_eq!(first.boxes.len(), 126);
        assert_eq!(
            &first.boxes[..3],
            [[345, 211, 4, 4], [331, 126, 3, 3], [250, 126, 3, 4]]
        );
        let keep = first.keep.as_ref().expect("keep lists");
        assert!(keep[Setting::Easy.index()].is_empty());
        assert_eq!(keep[Setting::Hard.index()], [30, 31, 124]);
        let images = || gt.events.iter().flat_map(|e| &e.images);
        let kept = |s: Setting| -> usize {
            images()
                .map(|i| i.keep.as_ref().unwrap()[s.index()].len())
                .sum()
        };
        assert_eq!(
            [
                kept(Setting::Easy),
                kept(Setting::Medium),
                kept(Setting::Hard)
            ],
            [7211, 13319, 31958]
        );
        let empty = |s: Setting| {
            images()
                .filter(|i| i.keep.as_ref().unwrap()[s.index()].is_empty())
                .count()
        };
        assert_eq!(
            [
                empty(Setting::Easy),
                empty(Setting::Medium),
                empty(Setting::Hard)
            ],
            [622, 207, 7]
        );
        let degenerate = images()
            .flat_map(|i| &i.boxes)
            .filter(|b| b[2] <= 0 || b[3] <= 0)
            .count();
        assert_eq!(degenerate, 11);
        assert!(images().all(|i| !i.boxes.is_empty()));
    }

    #[test]
    fn val_txt_agrees_with_the_mat_but_for_one_box() {
        let Some(gt) = val() else { return };
        let Some(txt) = reference_file("fixtures/wider_face_val_bbx_gt.txt") else {
            return;
        };
        let txt = GroundTruth::parse_txt(&txt).expect("the official text file");
        assert_eq!(txt.events.len(), VAL_EVENTS);
        assert_eq!(txt.image_count(), VAL_IMAGES);
        assert_eq!(txt.box_count(), VAL_BOXES);
        let mut differences = Vec::new();
        for (em, et) in gt.events.iter().zip(&txt.events) {
            assert_eq!(em.name, et.name);
            for (im, it) in em.images.iter().zip(&et.images) {
                assert_eq!(im.name, it.name);
                assert_eq!(im.boxes.len(), it.boxes.len(), "{}", im.name);
                for (k, (bm, bt)) in im.boxes.iter().zip(&it.boxes).enumerate() {
                    if bm != bt {
                        differences.push((im.name.as_str(), k, *bm, *bt));
                    }
                }
            }
        }
        assert_eq!(
            differences,
            [(
                "39_Ice_Skating_iceskiing_39_583",
                7,
                [1026, 474, -2, 23],
                [1026, 474, 0, 23]
            )]
        );
    }

    #[test]
    fn train_mat_reads_without_keep_lists() {
        let Some(path) = reference_file("fixtures/wider_face_train.mat") else {
            return;
        };
        let gt = GroundTruth::load_mat(&path).expect("the official train list");
        assert_eq!(gt.events.len(), 61);
        assert_eq!(gt.image_count(), 12_880);
        assert_eq!(gt.events[0].images[0].name, "0_Parade_marchingband_1_849");
        assert!(
            gt.events
                .iter()
                .flat_map(|e| &e.images)
                .all(|i| i.keep.is_none())
        );
    }

    #[test]
    fn a_setting_file_from_another_kit_is_refused() {
        let Some(face) = mirror_file("wider_face_val.mat") else {
            return;
        };
        let Some(train) = reference_file("fixtures/wider_face_train.mat") else {
            return;
        };
        let mut files = ValMatFiles::in_dir(face.parent().unwrap());
        files.settings[1] = train.clone();
        let err = GroundTruth::load_val(&files).unwrap_err().to_string();
        assert!(err.contains(&train.display().to_string()), "{err}");
        assert!(
            err.contains("it has no gt_list variable") || err.contains("event_list"),
            "{err}"
        );
    }

    #[test]
    fn swapped_kit_files_are_refused_naming_the_file() {
        let Some(face) = mirror_file("wider_face_val.mat") else {
            return;
        };
        let official = ValMatFiles::in_dir(face.parent().unwrap());
        let mut swapped = official.clone();
        swapped.settings.swap(0, 2);
        let err = GroundTruth::load_val(&swapped).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: the medium setting leaves out face ",
                official.settings[1].display()
            )),
            "{err}"
        );
        assert!(
            err.contains("the two files are swapped or not from the official kit"),
            "{err}"
        );
        let mut face_as_easy = official.clone();
        std::mem::swap(&mut face_as_easy.face, &mut face_as_easy.settings[0]);
        let err = GroundTruth::load_val(&face_as_easy)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}: it holds a gt_list variable, so it is one of the setting files",
                official.settings[0].display()
            )),
            "{err}"
        );
        let mut face_for_hard = official.clone();
        face_for_hard.settings[2] = official.face.clone();
        let err = GroundTruth::load_val(&face_for_hard)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}: it has no gt_list variable, so it is not wider_hard_val.mat",
                official.face.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn the_face_file_alone_is_not_a_val_kit() {
        let Some(train) = reference_file("fixtures/wider_face_train.mat") else {
            return;
        };
        let files = ValMatFiles {
            face: train.clone(),
            settings: [train.clone(), train.clone(), train.clone()],
        };
        let err = GroundTruth::load_val(&files).unwrap_err().to_string();
        assert!(err.contains("it has no gt_list variable"), "{err}");
    }

    #[test]
    fn missing_and_corrupt_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = ValMatFiles::in_dir(dir.path());
        let err = format!("{:#}", GroundTruth::load_val(&files).unwrap_err());
        assert!(
            err.contains("wider_face_val.mat") && err.contains("reproduce fetch wider-gt"),
            "{err}"
        );
        std::fs::write(&files.face, b"MATLAB 5.0 MAT-file, truncated").unwrap();
        let err = GroundTruth::load_val(&files).unwrap_err().to_string();
        assert!(err.contains("wider_face_val.mat"), "{err}");
    }

    #[test]
    fn txt_parses_zero_face_images_and_trailing_spaces() {
        let text = "0--Parade/a_1.jpg\n2\n1 2 3 4 0 0 0 0 0 0 \n5 6 7 8 1 0 0 0 0 0\n\
                    1--Handshaking/b_2.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n0--Parade/a_3.jpg\n1\n-1 0 0 9 2 0 0 1 0 0\n";
        let gt = parse_txt_str(text, "t.txt").unwrap();
        assert_eq!(gt.events.len(), 2);
        assert_eq!(gt.events[0].images.len(), 2);
        assert_eq!(gt.events[0].images[0].boxes, [[1, 2, 3, 4], [5, 6, 7, 8]]);
        assert_eq!(gt.events[0].images[1].boxes, [[-1, 0, 0, 9]]);
        assert!(gt.events[1].images[0].boxes.is_empty());
    }

    #[test]
    fn txt_errors_give_the_line() {
        let cases = [
            (
                "0--Parade/a_1.jpg\nx\n",
                "t.txt line 2: expected the face count",
            ),
            (
                "0--Parade/a_1.jpg\n1\n1 2 3\n",
                "t.txt line 3: expected 10 integers, found 3",
            ),
            (
                "0--Parade/a_1.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n",
                "t.txt line 2: 0--Parade/a_1.jpg: 2 faces announced",
            ),
            (
                "0--Parade/a_1.jpg\n0\n1 0 0 0 0 0 0 0 0 0\n",
                "t.txt line 3: 0--Parade/a_1.jpg has 0 faces",
            ),
            ("a_1.jpg\n", "t.txt line 1: expected an image path"),
            (
                "0--Parade/a_1.png\n",
                "t.txt line 1: '0--Parade/a_1.png' is not",
            ),
            (
                "0--Parade/a_1.jpg\n1\n1 2 3 4 0 0 0 0 0 q\n",
                "t.txt line 3: expected 10 integers, found '1 2 3 4",
            ),
            (
                "0--Parade/a_1.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n\nb/c.jpg\n",
                "t.txt line 5: 'b/c.jpg' follows a blank line",
            ),
        ];
        for (text, want) in cases {
            let err = parse_txt_str(text, "t.txt").unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }
}
