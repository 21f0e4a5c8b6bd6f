//! The pickle subset of `torch.save` state dicts: a strict reader that executes nothing, and a
//! writer for the same subset.
//!
//! The reader knows exactly the opcodes listed in `docs/upstream.md` §checkpoint-format plus
//! `BININT` (the 4-byte integer Python's pickler uses from 65,536 up, which a state dict of another
//! shape could need), and exactly four globals: `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `torch.FloatStorage` and `torch.LongStorage`. A "call"
//! (`REDUCE`) is only ever one of two things it can do itself: make an empty `OrderedDict`, or
//! describe a tensor view of a storage. Anything else — another opcode, another global, a call with
//! the wrong arguments — is an error naming the byte position and what was found, so a checkpoint
//! can never make us run code.
//!
//! Objects live in an arena and the stack and memo hold indices, so a dictionary reached through
//! the memo is the same object that later `SETITEMS` fill, as in Python.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Result, bail};

/// The only globals a checkpoint may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// `collections.OrderedDict`: the state dict itself and the tensors' empty hook dicts.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2`: a tensor as a view of a storage.
    RebuildTensorV2,
    /// `torch.FloatStorage`: float32 storage type.
    FloatStorage,
    /// `torch.LongStorage`: int64 storage type (`num_batches_tracked`).
    LongStorage,
}

impl Global {
    fn from_names(module: &str, name: &str) -> Option<Global> {
        match (module, name) {
            ("collections", "OrderedDict") => Some(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
            ("torch", "FloatStorage") => Some(Global::FloatStorage),
            ("torch", "LongStorage") => Some(Global::LongStorage),
            _ => None,
        }
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Global::OrderedDict => ("collections", "OrderedDict"),
            Global::RebuildTensorV2 => ("torch._utils", "_rebuild_tensor_v2"),
            Global::FloatStorage => ("torch", "FloatStorage"),
            Global::LongStorage => ("torch", "LongStorage"),
        }
    }
}

/// Element type of a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageKind {
    /// Little-endian IEEE float32.
    Float,
    /// Little-endian int64.
    Long,
}

impl StorageKind {
    /// Bytes per element.
    pub fn element_size(self) -> usize {
        match self {
            StorageKind::Float => 4,
            StorageKind::Long => 8,
        }
    }

    fn global(self) -> Global {
        match self {
            StorageKind::Float => Global::FloatStorage,
            StorageKind::Long => Global::LongStorage,
        }
    }
}

/// A storage named by a persistent id: its bytes are the zip entry `<top>/data/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// Element type.
    pub kind: StorageKind,
    /// Entry name under `<top>/data/`.
    pub key: String,
    /// Number of elements the pickle claims the storage holds.
    pub numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// The storage viewed.
    pub storage: StorageRef,
    /// Offset of element 0, in elements.
    pub offset: i64,
    /// Shape.
    pub size: Vec<i64>,
    /// Strides, in elements.
    pub stride: Vec<i64>,
}

/// A decoded pickle value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict in insertion order; `ordered` tells an `OrderedDict` from a plain `dict`.
    Dict {
        /// Whether it was built as `collections.OrderedDict`.
        ordered: bool,
        /// Items in insertion order.
        items: Vec<(Value, Value)>,
    },
    /// One of the allowed globals, not called.
    Global(Global),
    /// A storage (only meaningful as a tensor's argument).
    Storage(StorageRef),
    /// A tensor.
    Tensor(TensorRef),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "int {i}"),
            Value::Bool(b) => write!(f, "bool {b}"),
            Value::Str(s) => write!(f, "string '{s}'"),
            Value::Tuple(t) => write!(f, "tuple of {}", t.len()),
            Value::Dict { items, .. } => write!(f, "dict of {}", items.len()),
            Value::Global(g) => write!(f, "global {}.{}", g.names().0, g.names().1),
            Value::Storage(s) => write!(f, "storage '{}'", s.key),
            Value::Tensor(_) => write!(f, "tensor"),
        }
    }
}

/// Deepest nesting accepted when turning the arena into values (state dicts need 4).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
enum Obj {
    Int(i64),
    Bool(bool),
    Str(String),
    Tuple(Vec<usize>),
    Dict {
        ordered: bool,
        items: Vec<(usize, usize)>,
    },
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Obj {
    fn describe(&self) -> &'static str {
        match self {
            Obj::Int(_) => "an int",
            Obj::Bool(_) => "a bool",
            Obj::Str(_) => "a string",
            Obj::Tuple(_) => "a tuple",
            Obj::Dict { .. } => "a dict",
            Obj::Global(_) => "a global",
            Obj::Storage(_) => "a storage",
            Obj::Tensor(_) => "a tensor",
        }
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Position of the opcode being executed, for error messages.
    op_pos: usize,
    objs: Vec<Obj>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
}

/// Decodes a pickle. Errors name the byte position (in the pickle) and the reason.
pub fn read(data: &[u8]) -> Result<Value> {
    let mut m = Machine {
        data,
        pos: 0,
        op_pos: 0,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run()?;
    m.value(root, 0)
}

impl Machine<'_> {
    fn fail<T>(&self, why: impl fmt::Display) -> Result<T> {
        bail!("pickle byte {}: {why}", self.op_pos)
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.data.len() - self.pos < n {
            return self.fail("the pickle ends in the middle of an instruction");
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return self.fail("a GLOBAL name is not terminated");
        };
        let s = std::str::from_utf8(&rest[..n])
            .map(str::to_string)
            .or_else(|_| self.fail("a GLOBAL name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, obj: Obj) {
        self.objs.push(obj);
        self.stack.push(self.objs.len() - 1);
    }

    fn pop(&mut self) -> Result<usize> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return self.fail("the stack is empty");
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> Result<usize> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.last() {
            Some(&i) if self.stack.len() > floor => Ok(i),
            _ => self.fail("the stack is empty"),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<usize>> {
        let Some(mark) = self.marks.pop() else {
            return self.fail("no MARK to close");
        };
        Ok(self.stack.split_off(mark))
    }

    fn put(&mut self, key: u32) -> Result<()> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn get(&mut self, key: u32) -> Result<()> {
        match self.memo.get(&key) {
            Some(&i) => {
                self.stack.push(i);
                Ok(())
            }
            None => self.fail(format!("memo entry {key} was never stored")),
        }
    }

    fn set_items(&mut self, dict: usize, pairs: Vec<usize>) -> Result<()> {
        if !pairs.len().is_multiple_of(2) {
            return self.fail("SETITEMS with an odd number of values");
        }
        let new: Vec<(usize, usize)> = pairs.chunks(2).map(|p| (p[0], p[1])).collect();
        match &mut self.objs[dict] {
            Obj::Dict { items, .. } => {
                items.extend(new);
                Ok(())
            }
            other => {
                let what = other.describe();
                self.fail(format!("SETITEM on {what}, not a dict"))
            }
        }
    }

    fn run(&mut self) -> Result<usize> {
        loop {
            self.op_pos = self.pos;
            let op = self.byte()?;
            match op {
                0x80 => {
                    let proto = self.byte()?;
                    if proto != 2 {
                        return self.fail(format!(
                            "pickle protocol {proto}; checkpoints use protocol 2"
                        ));
                    }
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    match Global::from_names(&module, &name) {
                        Some(g) => self.push(Obj::Global(g)),
                        None => {
                            return self.fail(format!(
                                "refusing global '{module}.{name}': only collections.OrderedDict, \
                                 torch._utils._rebuild_tensor_v2, torch.FloatStorage and \
                                 torch.LongStorage may appear in a checkpoint"
                            ));
                        }
                    }
                }
                b'q' => {
                    let k = self.byte()? as u32;
                    self.put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.put(k)?;
                }
                b'h' => {
                    let k = self.byte()? as u32;
                    self.get(k)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.get(k)?;
                }
                b'(' => self.marks.push(self.stack.len()),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items));
                }
                b')' => self.push(Obj::Tuple(Vec::new())),
                0x85 => {
                    let a = self.pop()?;
                    self.push(Obj::Tuple(vec![a]));
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Obj::Tuple(vec![a, b]));
                }
                b'}' => self.push(Obj::Dict {
                    ordered: false,
                    items: Vec::new(),
                }),
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, vec![k, v])?;
                }
                b'u' => {
                    let pairs = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, pairs)?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = std::str::from_utf8(self.take(n)?)
                        .map(str::to_string)
                        .or_else(|_| self.fail("a string is not UTF-8"))?;
                    self.push(Obj::Str(s));
                }
                b'K' => {
                    let v = self.byte()? as i64;
                    self.push(Obj::Int(v));
                }
                b'M' => {
                    let v = self.u16()? as i64;
                    self.push(Obj::Int(v));
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.push(Obj::Int(v));
                }
                0x89 => self.push(Obj::Bool(false)),
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let obj = self.call(callable, args)?;
                    self.push(obj);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = self.persistent(pid)?;
                    self.push(Obj::Storage(storage));
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state)?;
                }
                b'.' => {
                    let root = self.pop()?;
                    if !self.stack.is_empty() || !self.marks.is_empty() {
                        return self.fail("STOP with values left on the stack");
                    }
                    if self.pos != self.data.len() {
                        return self.fail("bytes follow the STOP opcode");
                    }
                    return Ok(root);
                }
                other => {
                    return self.fail(format!(
                        "unsupported pickle opcode 0x{other:02x} ({}); a checkpoint uses only the \
                         opcodes of plain tensor state dicts",
                        opcode_name(other)
                    ));
                }
            }
        }
    }

    fn tuple(&self, i: usize) -> Option<&[usize]> {
        match &self.objs[i] {
            Obj::Tuple(t) => Some(t),
            _ => None,
        }
    }

    fn int(&self, i: usize) -> Option<i64> {
        match self.objs[i] {
            Obj::Int(v) => Some(v),
            _ => None,
        }
    }

    fn ints(&self, i: usize) -> Option<Vec<i64>> {
        self.tuple(i)?.iter().map(|&j| self.int(j)).collect()
    }

    fn call(&mut self, callable: usize, args: usize) -> Result<Obj> {
        let Obj::Global(g) = self.objs[callable] else {
            let what = self.objs[callable].describe();
            return self.fail(format!("REDUCE calls {what}, not an allowed global"));
        };
        let Some(args) = self.tuple(args).map(<[usize]>::to_vec) else {
            return self.fail("REDUCE arguments are not a tuple");
        };
        match g {
            Global::OrderedDict if args.is_empty() => Ok(Obj::Dict {
                ordered: true,
                items: Vec::new(),
            }),
            Global::RebuildTensorV2 if args.len() == 6 => self.rebuild_tensor(&args),
            _ => {
                let (module, name) = g.names();
                self.fail(format!(
                    "{module}.{name} called with {} arguments, which no checkpoint does",
                    args.len()
                ))
            }
        }
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)`.
    fn rebuild_tensor(&self, args: &[usize]) -> Result<Obj> {
        let Obj::Storage(storage) = &self.objs[args[0]] else {
            return self.fail("_rebuild_tensor_v2: the first argument is not a storage");
        };
        let (Some(offset), Some(size), Some(stride)) =
            (self.int(args[1]), self.ints(args[2]), self.ints(args[3]))
        else {
            return self
                .fail("_rebuild_tensor_v2: offset, size or stride is not an integer (tuple)");
        };
        if !matches!(self.objs[args[4]], Obj::Bool(_)) {
            return self.fail("_rebuild_tensor_v2: requires_grad is not a bool");
        }
        match &self.objs[args[5]] {
            Obj::Dict { items, .. } if items.is_empty() => {}
            _ => return self.fail("_rebuild_tensor_v2: backward hooks must be an empty dict"),
        }
        Ok(Obj::Tensor(TensorRef {
            storage: storage.clone(),
            offset,
            size,
            stride,
        }))
    }

    /// `('storage', torch.FloatStorage|LongStorage, key, location, numel)`.
    fn persistent(&self, pid: usize) -> Result<StorageRef> {
        let bad = || self.fail("a persistent id is not ('storage', type, key, location, numel)");
        let Some(t) = self.tuple(pid) else {
            return bad();
        };
        let [tag, kind, key, location, numel] = t else {
            return bad();
        };
        let kind = match (&self.objs[*tag], &self.objs[*kind]) {
            (Obj::Str(s), Obj::Global(Global::FloatStorage)) if s == "storage" => {
                StorageKind::Float
            }
            (Obj::Str(s), Obj::Global(Global::LongStorage)) if s == "storage" => StorageKind::Long,
            _ => return bad(),
        };
        // The location (`cuda:0` in every released file) is ignored: tensors load where we want.
        let (Obj::Str(key), Obj::Str(_), Some(numel)) =
            (&self.objs[*key], &self.objs[*location], self.int(*numel))
        else {
            return bad();
        };
        let Ok(numel) = u64::try_from(numel) else {
            return bad();
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return self.fail(format!("storage key '{key}' is not a plain entry name"));
        }
        Ok(StorageRef {
            kind,
            key: key.clone(),
            numel,
        })
    }

    /// `BUILD` on an `OrderedDict` sets its `_metadata` attribute (module versions), which loading
    /// does not need; anything else is refused.
    fn build(&self, target: usize, state: usize) -> Result<()> {
        match (&self.objs[target], &self.objs[state]) {
            (Obj::Dict { ordered: true, .. }, Obj::Dict { .. }) => Ok(()),
            (t, s) => self.fail(format!(
                "BUILD sets {} on {}; only an OrderedDict's attributes may be set",
                s.describe(),
                t.describe()
            )),
        }
    }

    fn value(&self, i: usize, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            bail!("the pickle nests deeper than {MAX_DEPTH} levels");
        }
        Ok(match &self.objs[i] {
            Obj::Int(v) => Value::Int(*v),
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Str(s) => Value::Str(s.clone()),
            Obj::Tuple(t) => Value::Tuple(
                t.iter()
                    .map(|&j| self.value(j, depth + 1))
                    .collect::<Result<_>>()?,
            ),
            Obj::Dict { ordered, items } => Value::Dict {
                ordered: *ordered,
                items: items
                    .iter()
                    .map(|&(k, v)| Ok((self.value(k, depth + 1)?, self.value(v, depth + 1)?)))
                    .collect::<Result<_>>()?,
            },
            Obj::Global(g) => Value::Global(*g),
            Obj::Storage(s) => Value::Storage(s.clone()),
            Obj::Tensor(t) => Value::Tensor(t.clone()),
        })
    }
}

/// Names of the opcodes a refused pickle most likely contains, for the error message.
fn opcode_name(op: u8) -> &'static str {
    match op {
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'P' => "PERSID",
        b'N' => "NONE",
        0x88 => "NEWTRUE",
        0x87 => "TUPLE3",
        b']' => "EMPTY_LIST",
        b'a' => "APPEND",
        b'e' => "APPENDS",
        b'G' => "BINFLOAT",
        b'U' => "SHORT_BINSTRING",
        0x8c => "SHORT_BINUNICODE",
        0x8a => "LONG1",
        0x95 => "FRAME",
        0x94 => "MEMOIZE",
        _ => "not part of the checkpoint subset",
    }
}

/// One tensor to write: the key, its storage entry and the view.
#[derive(Debug, Clone)]
pub struct TensorEntry<'a> {
    /// State-dict key.
    pub key: &'a str,
    /// The tensor: storage and view.
    pub tensor: TensorRef,
}

/// Writes a state dict as `torch.save` does (protocol 2, an `OrderedDict` of
/// `_rebuild_tensor_v2` calls), using only opcodes that [`read`] accepts. Storage locations are
/// written as `cpu`. Two entries with the same storage key share one storage when loaded.
pub fn write_state_dict(entries: &[TensorEntry<'_>]) -> Vec<u8> {
    let mut w = Writer {
        out: vec![0x80, 2],
        memo: HashMap::new(),
    };
    w.global(Global::OrderedDict);
    w.out.extend_from_slice(b")R");
    if !entries.is_empty() {
        w.out.push(b'(');
        for e in entries {
            w.string(e.key);
            w.tensor(&e.tensor);
        }
        w.out.push(b'u');
    }
    w.out.push(b'.');
    w.out
}

struct Writer {
    out: Vec<u8>,
    /// Memo slot of each global written so far.
    memo: HashMap<&'static str, u8>,
}

impl Writer {
    fn global(&mut self, g: Global) {
        let (module, name) = g.names();
        if let Some(&slot) = self.memo.get(name) {
            self.out.extend_from_slice(&[b'h', slot]);
            return;
        }
        self.out.push(b'c');
        self.out.extend_from_slice(module.as_bytes());
        self.out.push(b'\n');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'\n');
        let slot = self.memo.len() as u8;
        self.memo.insert(name, slot);
        self.out.extend_from_slice(&[b'q', slot]);
    }

    fn string(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: i64) {
        if let Ok(b) = u8::try_from(v) {
            self.out.extend_from_slice(&[b'K', b]);
        } else if let Ok(h) = u16::try_from(v) {
            self.out.push(b'M');
            self.out.extend_from_slice(&h.to_le_bytes());
        } else {
            let i =
                i32::try_from(v).expect("tensor sizes and strides of these models fit in 32 bits");
            self.out.push(b'J');
            self.out.extend_from_slice(&i.to_le_bytes());
        }
    }

    /// A tuple of ints, with the short forms for 0, 1 and 2 elements (no `TUPLE3`, which the
    /// reader does not know).
    fn ints(&mut self, values: &[i64]) {
        match values {
            [] => self.out.push(b')'),
            [a] => {
                self.int(*a);
                self.out.push(0x85);
            }
            [a, b] => {
                self.int(*a);
                self.int(*b);
                self.out.push(0x86);
            }
            _ => {
                self.out.push(b'(');
                for &v in values {
                    self.int(v);
                }
                self.out.push(b't');
            }
        }
    }

    fn tensor(&mut self, t: &TensorRef) {
        self.global(Global::RebuildTensorV2);
        self.out.push(b'(');
        self.out.push(b'(');
        self.string("storage");
        self.global(t.storage.kind.global());
        self.string(&t.storage.key);
        self.string("cpu");
        self.int(t.storage.numel as i64);
        self.out.push(b't');
        self.out.push(b'Q');
        self.int(t.offset);
        self.ints(&t.size);
        self.ints(&t.stride);
        self.out.push(0x89);
        self.global(Global::OrderedDict);
        self.out.extend_from_slice(b")R");
        self.out.push(b't');
        self.out.push(b'R');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(key: &str, kind: StorageKind, size: Vec<i64>) -> TensorRef {
        let numel: i64 = size.iter().product();
        let mut stride = vec![1; size.len()];
        for d in (0..size.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * size[d + 1];
        }
        TensorRef {
            storage: StorageRef {
                kind,
                key: key.to_string(),
                numel: numel as u64,
            },
            offset: 0,
            size,
            stride,
        }
    }

    #[test]
    fn reads_back_what_it_writes() {
        let a = tensor("0", StorageKind::Float, vec![70000, 3, 2, 1]);
        let b = tensor("1", StorageKind::Long, vec![]);
        let c = tensor("2", StorageKind::Float, vec![2, 9]);
        let entries = [
            TensorEntry {
                key: "x.weight",
                tensor: a.clone(),
            },
            TensorEntry {
                key: "x.nbt",
                tensor: b.clone(),
            },
            TensorEntry {
                key: "alias.weight",
                tensor: a.clone(),
            },
            TensorEntry {
                key: "w1",
                tensor: c.clone(),
            },
        ];
        let value = read(&write_state_dict(&entries)).unwrap();
        let expected = Value::Dict {
            ordered: true,
            items: vec![
                (Value::Str("x.weight".into()), Value::Tensor(a.clone())),
                (Value::Str("x.nbt".into()), Value::Tensor(b)),
                (Value::Str("alias.weight".into()), Value::Tensor(a)),
                (Value::Str("w1".into()), Value::Tensor(c)),
            ],
        };
        assert_eq!(value, expected);
    }

    #[test]
    fn an_empty_state_dict_round_trips() {
        let value = read(&write_state_dict(&[])).unwrap();
        assert_eq!(
            value,
            Value::Dict {
                ordered: true,
                items: vec![]
            }
        );
    }

    #[test]
    fn refuses_a_planted_global() {
        // What `pickle.dumps` makes of an object whose __reduce__ returns (os.system, ("id",)).
        let evil = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
        let err = read(evil).unwrap_err().to_string();
        assert_eq!(
            err,
            "pickle byte 2: refusing global 'posix.system': only collections.OrderedDict, \
             torch._utils._rebuild_tensor_v2, torch.FloatStorage and torch.LongStorage may \
             appear in a checkpoint"
        );
    }

    #[test]
    fn refuses_opcodes_outside_the_subset() {
        // STACK_GLOBAL is how protocol 4 would name a global.
        let err = read(b"\x80\x02X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93.")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("pickle byte 20: unsupported pickle opcode 0x93 (STACK_GLOBAL)"),
            "{err}"
        );
        let err = read(b"\x80\x04.").unwrap_err().to_string();
        assert_eq!(
            err,
            "pickle byte 0: pickle protocol 4; checkpoints use protocol 2"
        );
    }

    #[test]
    fn refuses_calls_the_checkpoints_never_make() {
        // torch.FloatStorage() called directly instead of through a persistent id.
        let err = read(b"\x80\x02ctorch\nFloatStorage\n)R.")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "pickle byte 23: torch.FloatStorage called with 0 arguments, which no checkpoint does"
        );
    }

    #[test]
    fn refuses_truncated_pickles() {
        let bytes = write_state_dict(&[TensorEntry {
            key: "w",
            tensor: tensor("0", StorageKind::Float, vec![3]),
        }]);
        for len in 0..bytes.len() {
            assert!(read(&bytes[..len]).is_err(), "length {len}");
        }
    }
}
