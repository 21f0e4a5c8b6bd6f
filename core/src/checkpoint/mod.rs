//! Upstream checkpoints (`.pth` / `.pt`), read and written without Python.
//!
//! A checkpoint is a zip ([`zipfile`]) holding a pickle (`<top>/data.pkl`, decoded by the strict,
//! non-executing [`pickle`] reader) that describes tensors as views of raw little-endian storages
//! (`<top>/data/<key>`). [`StateDict`] puts the two together: an ordered list of keys, each naming
//! one tensor, where two keys may name the same tensor — EResFD's alias keys ([`aliases`]) do, and
//! `named_parameters()` counts such a tensor once. It also unwraps EXTD-original's
//! `{'epoch', 'weight'}` form, and writes state dicts that upstream's `torch.load` and strict
//! `load_state_dict` accept (STORED entries aligned to 64 bytes, protocol-2 pickle, `version`).
//!
//! Values are kept bit for bit: storages are decoded with `from_le_bytes`, so the thousands of
//! subnormal weights in the released files survive (`docs/upstream.md` §checkpoint-values). Storage
//! locations (`cuda:0` in every released file) are ignored. Tensors are plain [`Array`]s, so
//! reading weights needs no libtorch.

pub mod aliases;
mod array;
mod identify;
pub mod pickle;
mod schema;
pub mod zipfile;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
pub use array::{Array, Data};
pub use identify::identify;
pub use schema::{Entry, Schema};

use crate::zoo::Arch;
use pickle::{StorageKind, StorageRef, TensorEntry, TensorRef, Value};
use zipfile::{ZipArchive, ZipWriter};

/// Suffixes of buffer keys: the running statistics of BatchNorm are the only buffers these
/// models have, and `named_parameters()` leaves them out.
const BUFFER_SUFFIXES: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];

/// Whether a state-dict key names a buffer rather than a parameter.
pub fn is_buffer(key: &str) -> bool {
    BUFFER_SUFFIXES
        .iter()
        .any(|s| key.rsplit('.').next() == Some(s))
}

/// Records a file may hold besides `data.pkl` and the storages: those of torch 2.0's writer
/// (`version`) and of newer ones (the rest); anything else is refused.
const OTHER_RECORDS: [&str; 6] = [
    "version",
    ".data/version",
    "byteorder",
    ".format_version",
    ".storage_alignment",
    ".data/serialization_id",
];

/// An ordered state dict whose keys may share tensors, as `torch.save(model.state_dict())` has.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    /// Keys in order, each with the index of its tensor in `tensors`.
    entries: Vec<(String, usize)>,
    /// The distinct tensors.
    tensors: Vec<Array>,
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> StateDict {
        StateDict::default()
    }

    /// Adds a key with a tensor of its own.
    pub fn push(&mut self, key: &str, tensor: Array) {
        self.tensors.push(tensor);
        self.entries.push((key.to_string(), self.tensors.len() - 1));
    }

    /// Adds `key` as a second name of the tensor of an existing key.
    pub fn push_alias(&mut self, key: &str, of: &str) -> Result<()> {
        let index = self.index(of).with_context(|| {
            format!("cannot alias '{key}' to '{of}', which is not in the state dict")
        })?;
        self.entries.push((key.to_string(), index));
        Ok(())
    }

    /// Reads a checkpoint file. Errors name the file and what is wrong with it.
    pub fn read(path: &Path) -> Result<StateDict> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        StateDict::from_bytes(&bytes)
            .with_context(|| format!("{} is not a valid checkpoint", path.display()))
    }

    /// Decodes the bytes of a checkpoint.
    pub fn from_bytes(bytes: &[u8]) -> Result<StateDict> {
        refuse_other_formats(bytes)?;
        let zip = ZipArchive::parse(bytes)?;
        let first = zip.names().first().context("the zip archive is empty")?;
        let top = first
            .split_once('/')
            .map(|(t, _)| t)
            .with_context(|| format!("entry '{first}' is not inside a top folder"))?;
        let record = |name: &str| zip.get(&format!("{top}/{name}"));
        let pkl = record("data.pkl").with_context(|| format!("no '{top}/data.pkl' entry"))?;
        let version = record("version")
            .or_else(|| record(".data/version"))
            .with_context(|| format!("no '{top}/version' entry"))?;
        ensure!(
            matches!(version, b"1\n" | b"2\n" | b"3\n"),
            "'{top}/version' holds {:?}, not a serialization format this reader knows (1 to 3)",
            String::from_utf8_lossy(version)
        );
        if let Some(order) = record("byteorder") {
            ensure!(
                order == b"little",
                "the storages are {:?}-endian; only little-endian files are supported",
                String::from_utf8_lossy(order)
            );
        }
        let mut storage_keys = BTreeSet::new();
        for name in zip.names() {
            let rest = name
                .strip_prefix(top)
                .and_then(|r| r.strip_prefix('/'))
                .with_context(|| format!("entry '{name}' is outside the top folder '{top}'"))?;
            if let Some(key) = rest.strip_prefix("data/") {
                storage_keys.insert(key.to_string());
            } else if rest != "data.pkl" && !OTHER_RECORDS.contains(&rest) {
                bail!("unexpected entry '{name}'; torch.save writes no such record");
            }
        }

        let root = pickle::read(pkl).with_context(|| format!("in '{top}/data.pkl'"))?;
        let items = state_dict_items(root)?;
        let mut sd = StateDict::new();
        let mut storages: HashMap<String, (StorageRef, Array)> = HashMap::new();
        let mut views: HashMap<(String, i64, Vec<i64>, Vec<i64>), usize> = HashMap::new();
        for (key, t) in items {
            if sd.index(&key).is_some() {
                bail!("key '{key}' appears twice");
            }
            let skey = t.storage.key.clone();
            if !storages.contains_key(&skey) {
                let data = record(&format!("data/{skey}")).with_context(|| {
                    format!("tensor '{key}': storage entry '{top}/data/{skey}' is missing")
                })?;
                let storage = decode_storage(&t.storage, data)
                    .with_context(|| format!("tensor '{key}': storage '{top}/data/{skey}'"))?;
                storages.insert(skey.clone(), (t.storage.clone(), storage));
            }
            let (first_ref, storage) = &storages[&skey];
            ensure!(
                first_ref.kind == t.storage.kind && first_ref.numel == t.storage.numel,
                "tensor '{key}': storage '{skey}' is described two different ways"
            );
            check_view(&t).with_context(|| format!("tensor '{key}'"))?;
            let view_key = (skey, t.offset, t.size.clone(), t.stride.clone());
            if let Some(&index) = views.get(&view_key) {
                sd.entries.push((key, index));
            } else {
                let tensor = storage.view(&t.size, &t.stride, t.offset);
                sd.push(&key, tensor);
                views.insert(view_key, sd.tensors.len() - 1);
            }
        }
        let used: BTreeSet<String> = storages.into_keys().collect();
        if let Some(unused) = storage_keys.difference(&used).next() {
            bail!("storage entry '{top}/data/{unused}' is not used by any tensor");
        }
        Ok(sd)
    }

    fn index(&self, key: &str) -> Option<usize> {
        self.entries.iter().find(|(k, _)| k == key).map(|&(_, i)| i)
    }

    /// The tensor of a key.
    pub fn get(&self, key: &str) -> Option<&Array> {
        self.index(key).map(|i| &self.tensors[i])
    }

    /// The tensor of a key, to edit in place; an alias pair shares the edit.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Array> {
        self.index(key).map(|i| &mut self.tensors[i])
    }

    /// Whether two keys name the very same tensor (an alias pair).
    pub fn same_tensor(&self, a: &str, b: &str) -> bool {
        matches!((self.index(a), self.index(b)), (Some(x), Some(y)) if x == y)
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Keys and tensors in order (aliases included).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Array)> {
        self.entries
            .iter()
            .map(|(k, i)| (k.as_str(), &self.tensors[*i]))
    }

    /// Number of keys (aliases included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of distinct tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// The distinct parameters (not buffers), each under the first key that names it — what
    /// `named_parameters()` yields when the file shares its alias tensors as upstream's does.
    /// Counting goes through [`StateDict::canonical`] first, so a file whose aliases are copies
    /// counts the same.
    pub(crate) fn parameters(&self) -> impl Iterator<Item = (&str, &Array)> {
        let mut seen = vec![false; self.tensors.len()];
        self.entries.iter().filter_map(move |(k, i)| {
            let first = !std::mem::replace(&mut seen[*i], true);
            (first && !is_buffer(k)).then(|| (k.as_str(), &self.tensors[*i]))
        })
    }

    /// The state dict under canonical keys only (`checkpoint::aliases`), after checking that each
    /// alias key holds the same values as its canonical twin; what per-layer tables iterate.
    pub fn canonical(&self, arch: Arch) -> Result<StateDict> {
        let mut out = StateDict::new();
        // Canonical keys that share a tensor keep sharing it, as `named_parameters()` counts.
        let mut first_key: HashMap<usize, &str> = HashMap::new();
        for (key, index) in &self.entries {
            let (key, index) = (key.as_str(), *index);
            let t = &self.tensors[index];
            match aliases::canonical(arch, key) {
                Some(c) => {
                    let twin = self
                        .get(&c)
                        .with_context(|| format!("alias '{key}' has no canonical twin '{c}'"))?;
                    ensure!(
                        self.same_tensor(key, &c) || t.bit_equal(twin),
                        "alias '{key}' holds other values than '{c}'"
                    );
                }
                None => match first_key.get(&index) {
                    Some(first) => out.push_alias(key, first)?,
                    None => {
                        out.push(key, t.clone());
                        first_key.insert(index, key);
                    }
                },
            }
        }
        Ok(out)
    }

    /// The number of parameters of an `arch` state dict with upstream's `named_parameters()`
    /// semantics, counted over its canonical keys: an alias counts once whether the file
    /// shares its tensor or stores a copy (`{k: v.clone() ...}`), and buffers do not count
    /// (92,208 for EResFD, 162,352 for EXTD). An alias copy with other values is an error.
    pub fn parameter_count(&self, arch: Arch) -> Result<u64> {
        Ok(self
            .canonical(arch)?
            .parameters()
            .map(|(_, t)| t.numel() as u64)
            .sum())
    }

    /// Encodes the state dict as a checkpoint whose zip folder is `top` (torch uses the file
    /// stem). Each distinct tensor becomes one storage, so aliases stay shared when loaded.
    pub fn to_bytes(&self, top: &str) -> Result<Vec<u8>> {
        let mut storages = Vec::with_capacity(self.tensors.len());
        let mut refs = Vec::with_capacity(self.tensors.len());
        for (index, tensor) in self.tensors.iter().enumerate() {
            let _key = self
                .entries
                .iter()
                .find(|(_, i)| *i == index)
                .map_or("?", |(k, _)| k.as_str());
            let (kind, bytes) = (tensor.storage_kind(), tensor.to_le_bytes());
            let size = tensor.shape().to_vec();
            let mut stride = vec![1i64; size.len()];
            for d in (0..size.len().saturating_sub(1)).rev() {
                stride[d] = stride[d + 1] * size[d + 1];
            }
            refs.push(TensorRef {
                storage: StorageRef {
                    kind,
                    key: index.to_string(),
                    numel: tensor.numel() as u64,
                },
                offset: 0,
                size,
                stride,
            });
            storages.push(bytes);
        }
        let entries: Vec<TensorEntry<'_>> = self
            .entries
            .iter()
            .map(|(key, i)| TensorEntry {
                key,
                tensor: refs[*i].clone(),
            })
            .collect();
        let mut zip = ZipWriter::new();
        zip.add(
            &format!("{top}/data.pkl"),
            &pickle::write_state_dict(&entries),
        )?;
        // torch writes the storages sorted by key as strings ("0", "1", "10", ...); so do we.
        let mut order: Vec<usize> = (0..storages.len()).collect();
        order.sort_by_key(|i| i.to_string());
        for i in order {
            zip.add(&format!("{top}/data/{i}"), &storages[i])?;
        }
        zip.add(&format!("{top}/version"), b"3\n")?;
        zip.finish()
    }

    /// Writes the state dict to `path` atomically; the zip folder is the file stem, as with
    /// `torch.save`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let top = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .with_context(|| {
                format!(
                    "{}: cannot derive an archive folder from the name",
                    path.display()
                )
            })?;
        let bytes = self
            .to_bytes(top)
            .with_context(|| format!("encoding {}", path.display()))?;
        crate::fsutil::write_atomic(path, &bytes)
    }
}

/// Reads a checkpoint file of `arch`, checks it as loading the network does ([`Schema::check`]:
/// keys, shapes, alias copies, finite values) and returns it in upstream's layout
/// ([`Schema::normalize`]: a baseline's file gets the alias names it lacks); errors name the
/// file.
pub fn read_checked(path: &Path, arch: Arch) -> Result<StateDict> {
    Schema::of(arch)
        .normalize(&StateDict::read(path)?)
        .with_context(|| format!("{} does not hold usable {arch} weights", path.display()))
}

/// The parameter count of a checkpoint file of `arch`, as `reproduce zoo show` prints it,
/// after the checks of [`read_checked`].
pub fn parameter_count(path: &Path, arch: Arch) -> Result<u64> {
    read_checked(path, arch)?
        .parameter_count(arch)
        .with_context(|| format!("counting the parameters of {}", path.display()))
}

/// The start of a legacy `torch.save` file (torch before 1.6, or
/// `_use_new_zipfile_serialization=False`): pickle protocol 2, then torch's magic number
/// `0x1950a86a20f9469cfc6c` as a LONG1.
const LEGACY_MAGIC: [u8; 14] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// Names the formats a user may hand over instead of a zip checkpoint, so they do not read as
/// a damaged zip archive: an empty file, a legacy `torch.save` file, a bare pickle.
fn refuse_other_formats(bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        bail!("the file is empty");
    }
    if bytes.starts_with(&LEGACY_MAGIC) {
        bail!(
            "it is a legacy torch.save file (the format of torch before 1.6, not a zip archive), \
             which this reader does not read; convert it with a current torch: \
             `torch.save(torch.load(path), path)`"
        );
    }
    if bytes[0] == 0x80 && !bytes.starts_with(b"PK") {
        bail!(
            "it is a bare pickle, not a torch.save zip archive; save the state dict with \
             `torch.save(state_dict, path)`"
        );
    }
    Ok(())
}

/// The `(key, tensor)` items of a bare state dict or of the `{'epoch', 'weight'}` wrapper that
/// EXTD-original uses (`docs/upstream.md` §checkpoint-files).
fn state_dict_items(root: Value) -> Result<Vec<(String, TensorRef)>> {
    let Value::Dict { items, .. } = root else {
        bail!("the pickle holds a {root}, not a state dict");
    };
    let is_wrapper = items
        .iter()
        .any(|(k, _)| matches!(k, Value::Str(s) if s == "weight"));
    if is_wrapper {
        let mut weight = None;
        for (k, v) in items {
            match (k, v) {
                (Value::Str(k), v) if k == "weight" => weight = Some(v),
                (Value::Str(k), Value::Int(_)) if k == "epoch" => {}
                (k, v) => bail!(
                    "the checkpoint wrapper holds {k} = {v}; expected only 'epoch' and 'weight'"
                ),
            }
        }
        return state_dict_items(weight.expect("found above"));
    }
    items
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => Ok((k, t)),
            (Value::Str(k), v) => bail!("key '{k}' holds a {v}, not a tensor"),
            (k, _) => bail!("the state dict has a key that is a {k}, not a string"),
        })
        .collect()
}

/// A storage's elements as a flat array, decoded bit for bit from little-endian bytes.
fn decode_storage(s: &StorageRef, data: &[u8]) -> Result<Array> {
    let expected = s.numel as usize * s.kind.element_size();
    ensure!(
        data.len() == expected,
        "holds {} bytes, but {} {:?} elements need {expected}",
        data.len(),
        s.numel,
        s.kind
    );
    let numel = [s.numel as i64];
    Ok(match s.kind {
        StorageKind::Float => Array::f32(
            &numel,
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        ),
        StorageKind::Long => Array::i64(
            &numel,
            data.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
    })
}

/// Checks that a view stays inside its storage.
fn check_view(t: &TensorRef) -> Result<()> {
    ensure!(
        t.size.len() == t.stride.len(),
        "shape {:?} and strides {:?} have different lengths",
        t.size,
        t.stride
    );
    ensure!(
        t.offset >= 0 && t.size.iter().all(|&d| d >= 0) && t.stride.iter().all(|&s| s >= 0),
        "negative offset, size or stride in shape {:?}, strides {:?}, offset {}",
        t.size,
        t.stride,
        t.offset
    );
    if t.size.contains(&0) {
        return Ok(());
    }
    let last = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&d, &s)| {
            (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
        });
    let needed = last.and_then(|l| l.checked_add(1));
    match needed {
        Some(n) if n as u64 <= t.storage.numel => Ok(()),
        _ => bail!(
            "shape {:?} with strides {:?} at offset {} does not fit its storage '{}' of {} elements",
            t.size,
            t.stride,
            t.offset,
            t.storage.key,
            t.storage.numel
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateDict {
        let mut sd = StateDict::new();
        // A subnormal and a negative zero must survive the round trip bit for bit.
        sd.push(
            "a.weight",
            Array::f32(
                &[2, 3],
                vec![1.0, f32::from_bits(0x8000_0383), -0.0, 3.5, 7.0, 9.0],
            ),
        );
        sd.push("a.running_mean", Array::f32(&[2], vec![0.5, 0.25]));
        sd.push("a.num_batches_tracked", Array::i64(&[], vec![483000]));
        sd.push_alias("alias.weight", "a.weight").unwrap();
        sd
    }

    #[test]
    fn reads_back_what_it_writes() {
        let sd = sample();
        let back = StateDict::from_bytes(&sd.to_bytes("top").unwrap()).unwrap();
        assert_eq!(
            back.keys().collect::<Vec<_>>(),
            [
                "a.weight",
                "a.running_mean",
                "a.num_batches_tracked",
                "alias.weight"
            ]
        );
        assert_eq!(back.tensor_count(), 3);
        assert!(back.same_tensor("a.weight", "alias.weight"));
        for (key, t) in sd.iter() {
            assert!(back.get(key).unwrap().bit_equal(t), "{key}");
        }
        assert_eq!(back.parameter_count(Arch::Extd).unwrap(), 6);
    }

    #[test]
    fn canonical_refuses_an_alias_with_other_values() {
        let mut sd = StateDict::new();
        sd.push("loc.0.bias", Array::f32(&[2], vec![1.0, 2.0]));
        sd.push("loc0.bias", Array::f32(&[2], vec![1.0, 2.5]));
        let err = sd.canonical(Arch::Eresfd).unwrap_err().to_string();
        assert_eq!(
            err,
            "alias 'loc0.bias' holds other values than 'loc.0.bias'"
        );
        let mut ok = StateDict::new();
        ok.push("loc.0.bias", Array::f32(&[2], vec![1.0, 2.0]));
        ok.push("loc0.bias", Array::f32(&[2], vec![1.0, 2.0]));
        assert_eq!(
            ok.canonical(Arch::Eresfd)
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["loc.0.bias"]
        );
    }

    #[test]
    fn alias_copies_count_once_and_conflicting_copies_are_refused() {
        let Some(src) = crate::testutil::mirror_file("EResFD-30-pruned.pth") else {
            return;
        };
        let shared = StateDict::read(&src).unwrap();
        // What `{k: v.clone() for k in sd}` saves: every alias key with a storage of its own.
        let mut copies = StateDict::new();
        for (key, t) in shared.iter() {
            copies.push(key, t.clone());
        }
        let copies = StateDict::from_bytes(&copies.to_bytes("copies").unwrap()).unwrap();
        assert_eq!(copies.tensor_count(), copies.len());
        assert_eq!(copies.parameter_count(Arch::Eresfd).unwrap(), 92_208);
        assert_eq!(shared.parameter_count(Arch::Eresfd).unwrap(), 92_208);
        Schema::of(Arch::Eresfd).check(&copies).unwrap();
        let mut conflicting = copies;
        conflicting
            .get_mut("loc0.bias")
            .unwrap()
            .as_f32_mut()
            .unwrap()[0] += 1.0;
        let err = conflicting
            .parameter_count(Arch::Eresfd)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "alias 'loc0.bias' holds other values than 'loc.0.bias'"
        );
        let err = Schema::of(Arch::Eresfd)
            .check(&conflicting)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("1 conflicting alias key(s): loc0.bias differs from loc.0.bias"),
            "{err}"
        );
    }

    #[test]
    fn legacy_empty_and_pickle_files_are_named() {
        let mut legacy = LEGACY_MAGIC.to_vec();
        legacy.extend_from_slice(b".\x80\x02M\xe9\x03.");
        let err = StateDict::from_bytes(&legacy).unwrap_err().to_string();
        assert!(
            err.starts_with("it is a legacy torch.save file (the format of torch before 1.6"),
            "{err}"
        );
        assert!(
            err.ends_with("`torch.save(torch.load(path), path)`"),
            "{err}"
        );
        let err = StateDict::from_bytes(b"").unwrap_err().to_string();
        assert_eq!(err, "the file is empty");
        let err = StateDict::from_bytes(b"\x80\x04}q\x00.")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("it is a bare pickle"), "{err}");
    }

    #[test]
    fn a_planted_system_global_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evil.pth");
        let mut zip = ZipWriter::new();
        zip.add(
            "evil/data.pkl",
            b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.",
        )
        .unwrap();
        zip.add("evil/version", b"3\n").unwrap();
        std::fs::write(&path, zip.finish().unwrap()).unwrap();
        let err = format!("{:#}", StateDict::read(&path).unwrap_err());
        assert_eq!(
            err,
            format!(
                "{} is not a valid checkpoint: in 'evil/data.pkl': pickle byte 2: refusing global \
                 'posix.system': only collections.OrderedDict, torch._utils._rebuild_tensor_v2, \
                 torch.FloatStorage and torch.LongStorage may appear in a checkpoint",
                path.display()
            )
        );
    }

    #[test]
    fn a_truncated_checkpoint_is_refused_with_the_file_named() {
        let Some(src) = crate::testutil::mirror_file("EResFD-30-pruned.pth") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.pth");
        let bytes = std::fs::read(src).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = format!("{:#}", StateDict::read(&path).unwrap_err());
        let expected = format!(
            "{} is not a valid checkpoint: not a complete zip archive (the file is truncated or \
             damaged): ",
            path.display()
        );
        assert!(err.starts_with(&expected), "{err}");
    }

    #[test]
    fn a_view_outside_its_storage_is_refused() {
        let t = TensorRef {
            storage: StorageRef {
                kind: StorageKind::Float,
                key: "0".into(),
                numel: 5,
            },
            offset: 0,
            size: vec![2, 3],
            stride: vec![3, 1],
        };
        let entries = [TensorEntry {
            key: "w",
            tensor: t,
        }];
        let mut zip = ZipWriter::new();
        zip.add("t/data.pkl", &pickle::write_state_dict(&entries))
            .unwrap();
        zip.add("t/data/0", &[0u8; 20]).unwrap();
        zip.add("t/version", b"3\n").unwrap();
        let err = format!(
            "{:#}",
            StateDict::from_bytes(&zip.finish().unwrap()).unwrap_err()
        );
        assert_eq!(
            err,
            "tensor 'w': shape [2, 3] with strides [3, 1] at offset 0 does not fit its storage \
             '0' of 5 elements"
        );
    }

    #[test]
    fn a_storage_of_the_wrong_length_is_refused() {
        let t = TensorRef {
            storage: StorageRef {
                kind: StorageKind::Float,
                key: "0".into(),
                numel: 2,
            },
            offset: 0,
            size: vec![2],
            stride: vec![1],
        };
        let entries = [TensorEntry {
            key: "w",
            tensor: t,
        }];
        let mut zip = ZipWriter::new();
        zip.add("t/data.pkl", &pickle::write_state_dict(&entries))
            .unwrap();
        zip.add("t/data/0", &[0u8; 12]).unwrap();
        zip.add("t/version", b"3\n").unwrap();
        let err = format!(
            "{:#}",
            StateDict::from_bytes(&zip.finish().unwrap()).unwrap_err()
        );
        assert_eq!(
            err,
            "tensor 'w': storage 't/data/0': holds 12 bytes, but 2 Float elements need 8"
        );
    }

    /// Keys, shapes and dtypes in file order, from the reference key lists.
    fn reference_keys(arch: Arch) -> Option<Vec<(String, Vec<i64>, StorageKind)>> {
        let name = match arch {
            Arch::Eresfd => "eresfd_state_dict_keys.tsv",
            Arch::Extd => "extd_state_dict_keys.tsv",
        };
        let path = crate::testutil::reference_file(&format!("reference/outputs/{name}"))?;
        let text = std::fs::read_to_string(path).unwrap();
        let rows = text.lines().filter(|l| !l.starts_with('#')).map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let shape = cols[2]
                .trim_matches(|c| c == '[' || c == ']')
                .split(", ")
                .filter(|s| !s.is_empty())
                .map(|d| d.parse().unwrap())
                .collect();
            let kind = match cols[3] {
                "float32" => StorageKind::Float,
                "int64" => StorageKind::Long,
                other => panic!("dtype {other}"),
            };
            (cols[1].to_string(), shape, kind)
        });
        Some(rows.collect())
    }

    #[test]
    fn every_released_checkpoint_reads_with_the_reference_keys_and_parameter_count() {
        let zoo = crate::zoo::Zoo::builtin();
        // B-FPGM's files; the baselines' layout has a test of its own (`schema`).
        for m in zoo
            .models
            .iter()
            .filter(|m| m.paper.as_deref() == Some("bfpgm"))
        {
            let (Some(path), Some(expected)) = (
                crate::testutil::mirror_file(&m.artifact.file),
                reference_keys(m.arch),
            ) else {
                return;
            };
            let sd = StateDict::read(&path).unwrap();
            let got: Vec<(String, Vec<i64>, StorageKind)> = sd
                .iter()
                .map(|(k, t)| (k.to_string(), t.shape().to_vec(), t.storage_kind()))
                .collect();
            assert_eq!(got, expected, "{}", m.artifact.file);
            for (key, _) in sd.iter() {
                if let Some(canon) = aliases::canonical(m.arch, key) {
                    assert!(sd.same_tensor(key, &canon), "{}: {key}", m.artifact.file);
                }
            }
            assert_eq!(
                sd.parameter_count(m.arch).unwrap(),
                m.expected.params,
                "{}",
                m.artifact.file
            );
        }
    }
}
