//! Reading the tensors of a `torch.save` file (`.pt` / `.pth`) without executing pickle code.
//!
//! Since PyTorch 1.6 `torch.save` writes a zip archive: `<prefix>/data.pkl` is a pickle
//! (protocol 2) of the saved object in which every tensor is a call
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` and every storage a
//! persistent id `('storage', torch.FloatStorage, key, location, numel)` whose bytes are the
//! member `<prefix>/data/<key>` (little-endian unless `<prefix>/byteorder` says `big`).
//!
//! A pickle is a program for a stack machine that may call any importable Python function.
//! This module interprets the opcodes torch emits on inert values only: the few callables that
//! build tensors and containers (an allow-list) are *modelled*, never called; a class created
//! by `NEWOBJ` (a pickled `nn.Module`) is a record of its name and state; any other call becomes
//! an opaque value that is reported by name if a caller asks for a tensor inside it. Every
//! length, index and stride is checked against the bytes present, so no file makes this panic
//! or allocate more than its own size suggests.
//!
//! Tensor names follow `state_dict()`: a module's parameters and buffers under their attribute
//! names, submodules and nested dicts joined with `.` (`model.W` in `{"model": state_dict}`).

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Internal results carry just the message; public functions attach the path.
type Msg<T> = std::result::Result<T, String>;

/// The element type of a storage, from its pickled storage class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageType {
    F64,
    F32,
    F16,
    BF16,
    /// Any other storage class (integers, bool, complex…), by name.
    Other(String),
}

impl StorageType {
    fn from_class(class: &str) -> StorageType {
        match class {
            "torch.DoubleStorage" => StorageType::F64,
            "torch.FloatStorage" => StorageType::F32,
            "torch.HalfStorage" => StorageType::F16,
            "torch.BFloat16Storage" => StorageType::BF16,
            other => StorageType::Other(other.to_string()),
        }
    }

    fn size(&self) -> Option<usize> {
        match self {
            StorageType::F64 => Some(8),
            StorageType::F32 => Some(4),
            StorageType::F16 | StorageType::BF16 => Some(2),
            StorageType::Other(_) => None,
        }
    }

    fn name(&self) -> String {
        match self {
            StorageType::F64 => "float64".into(),
            StorageType::F32 => "float32".into(),
            StorageType::F16 => "float16".into(),
            StorageType::BF16 => "bfloat16".into(),
            StorageType::Other(class) => match class.as_str() {
                "torch.LongStorage" => "int64".into(),
                "torch.IntStorage" => "int32".into(),
                "torch.ShortStorage" => "int16".into(),
                "torch.CharStorage" => "int8".into(),
                "torch.ByteStorage" => "uint8".into(),
                "torch.BoolStorage" => "bool".into(),
                "torch.ComplexFloatStorage" => "complex64".into(),
                "torch.ComplexDoubleStorage" => "complex128".into(),
                other => format!("of storage class {other}"),
            },
        }
    }
}

/// A tensor as the pickle describes it: a strided view of one storage.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    key: String,
    dtype: StorageType,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// What a name in the file refers to.
#[derive(Debug, Clone)]
enum Entry {
    Tensor(TensorRef),
    /// Built by a call this reader does not model (the callable's dotted name).
    Opaque(String),
}

/// The tensors of one `torch.save` file, read lazily by name.
#[derive(Debug, Clone)]
pub struct TorchFile {
    bytes: Vec<u8>,
    prefix: String,
    big_endian: bool,
    entries: Vec<(String, Entry)>,
}

impl TorchFile {
    /// Reads and interprets `path` (nothing in it is executed).
    pub fn open(path: &Path) -> Result<TorchFile> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TorchFile::from_bytes(bytes).map_err(|msg| Error::format(path, msg))
    }

    /// Interprets the bytes of a `torch.save` file; the error is the message only.
    pub fn from_bytes(bytes: Vec<u8>) -> Msg<TorchFile> {
        let (prefix, pickle, big_endian) = open_archive(&bytes)?;
        let mut machine = Machine::new(&pickle);
        let root = machine.run()?;
        if let Value::Opaque(call) = &machine.arena[root] {
            return Err(format!(
                "the saved object is built by {call}, which this reader does not read (unknown \
                 class; save a state_dict, a dict of tensors or a module)"
            ));
        }
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        machine.collect(root, "", 0, &mut seen, &mut entries);
        if let (true, Value::Instance(class, _)) = (entries.is_empty(), &machine.arena[root]) {
            return Err(format!("the saved object ({class}) holds no tensors"));
        }
        // The first occurrence of a name wins (e.g. a parameter also reachable as an attribute).
        let mut names = HashSet::new();
        entries.retain(|(name, _)| names.insert(name.clone()));
        Ok(TorchFile {
            bytes,
            prefix,
            big_endian,
            entries,
        })
    }

    /// Names of the tensors (and of opaque objects) in the file, in pickle order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The tensor `name` as (shape, values in C order), converted exactly to f64.
    pub fn tensor(&self, name: &str) -> Msg<(Vec<usize>, Vec<f64>)> {
        let entry = self
            .entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e)
            .ok_or_else(|| format!("no tensor named '{name}'"))?;
        let t = match entry {
            Entry::Tensor(t) => t,
            Entry::Opaque(call) => {
                return Err(format!(
                    "'{name}' is an object built by {call}, which this reader does not read \
                     (unknown class; only plain dense tensors, parameters, dicts and modules are \
                     read)"
                ))
            }
        };
        let size = t.dtype.size().ok_or_else(|| {
            format!(
                "tensor '{name}' has dtype {}; expected float32 or float64 (float16 and bfloat16 \
                 are converted)",
                t.dtype.name()
            )
        })?;
        let member = format!("{}data/{}", self.prefix, t.key);
        let raw = read_member(&self.bytes, &member)?
            .ok_or_else(|| format!("tensor '{name}': the archive has no storage '{member}'"))?;
        let available = raw.len() / size;
        let numel = t
            .size
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| format!("tensor '{name}' has a shape that overflows"))?;
        if numel > 0 {
            // Largest element index the view touches: offset + Σ (size_d − 1)·stride_d.
            let last = t
                .size
                .iter()
                .zip(&t.stride)
                .try_fold(t.offset, |a, (&d, &s)| {
                    a.checked_add((d - 1).checked_mul(s)?)
                })
                .ok_or_else(|| format!("tensor '{name}' has strides that overflow"))?;
            if last >= available {
                return Err(format!(
                    "tensor '{name}' reaches element {last} of its storage, which holds only \
                     {available} (truncated or inconsistent file)"
                ));
            }
        }
        let element = |i: usize| -> f64 {
            let c = &raw[i * size..(i + 1) * size];
            let big = self.big_endian;
            match t.dtype {
                StorageType::F64 => {
                    let b: [u8; 8] = c.try_into().unwrap_or([0; 8]);
                    if big {
                        f64::from_be_bytes(b)
                    } else {
                        f64::from_le_bytes(b)
                    }
                }
                StorageType::F32 => {
                    let b: [u8; 4] = c.try_into().unwrap_or([0; 4]);
                    f64::from(if big {
                        f32::from_be_bytes(b)
                    } else {
                        f32::from_le_bytes(b)
                    })
                }
                StorageType::F16 | StorageType::BF16 => {
                    let bits = if big {
                        u16::from_be_bytes([c[0], c[1]])
                    } else {
                        u16::from_le_bytes([c[0], c[1]])
                    };
                    if t.dtype == StorageType::F16 {
                        super::weights::f16_to_f64(bits)
                    } else {
                        super::weights::bf16_to_f64(bits)
                    }
                }
                StorageType::Other(_) => f64::NAN,
            }
        };
        let mut data = Vec::with_capacity(numel);
        let mut idx = vec![0usize; t.size.len()];
        for _ in 0..numel {
            let off = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
            data.push(element(off));
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.size[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok((t.size.clone(), data))
    }
}

/// Largest `data.pkl` read (a state_dict's pickle is a few kB; tensors live outside it).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// Finds `<prefix>/data.pkl`; returns (prefix with its `/`, the pickle, big-endian?).
fn open_archive(bytes: &[u8]) -> Msg<(String, Vec<u8>, bool)> {
    if !bytes.starts_with(b"PK\x03\x04") {
        // torch.save(..., _use_new_zipfile_serialization=False) and PyTorch < 1.6 write a bare
        // pickle stream (protocol 2 starts with 0x80 0x02) followed by raw storages.
        return Err(if bytes.first() == Some(&0x80) {
            "this is PyTorch's legacy (non-zip) torch.save format, which is not read; load it in \
             Python and save it again with torch.save(obj, path) (PyTorch ≥ 1.6 writes the zip \
             format by default) or with safetensors / numpy"
                .to_string()
        } else {
            "not a torch.save file (expected the zip archive PyTorch ≥ 1.6 writes)".to_string()
        });
    }
    let archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a valid torch.save (zip) archive: {e}"))?;
    let pkl = archive
        .file_names()
        .filter(|n| {
            let parts: Vec<&str> = n.split('/').collect();
            parts.len() == 2 && parts[1] == "data.pkl"
        })
        .min()
        .map(str::to_string)
        .ok_or_else(|| {
            if archive.file_names().any(|n| n.ends_with(".npy")) {
                "a zip archive of .npy arrays, not a torch.save file (is it an .npz renamed? \
                 give it the .npz extension)"
                    .to_string()
            } else {
                "a zip archive without <name>/data.pkl: not a torch.save file".to_string()
            }
        })?;
    let prefix = pkl.strip_suffix("data.pkl").unwrap_or_default().to_string();
    let pickle = read_member(bytes, &pkl)?.ok_or("data.pkl vanished")?;
    let big_endian = match read_member(bytes, &format!("{prefix}byteorder"))? {
        None => false,
        Some(b) => match String::from_utf8_lossy(&b).trim() {
            "little" => false,
            "big" => true,
            other => return Err(format!("unknown byte order '{other}' in the archive")),
        },
    };
    Ok((prefix, pickle, big_endian))
}

/// One member's bytes, `None` when absent.
fn read_member(bytes: &[u8], name: &str) -> Msg<Option<Vec<u8>>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a valid torch.save (zip) archive: {e}"))?;
    let mut file = match archive.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("cannot read '{name}' in the archive: {e}")),
    };
    if file.size() > MAX_PICKLE_BYTES.max(bytes.len() as u64) {
        return Err(format!(
            "member '{name}' declares {} bytes, more than the file holds",
            file.size()
        ));
    }
    let mut out = Vec::with_capacity(file.size() as usize);
    file.read_to_end(&mut out)
        .map_err(|e| format!("cannot read '{name}' in the archive: {e}"))?;
    Ok(Some(out))
}

/// An inert Python value. Containers hold arena ids so that objects shared through the memo
/// (and mutated after being memoised, as pickles do) stay shared.
#[derive(Debug, Clone)]
enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Bytes,
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    /// `module.name` of a GLOBAL: a name, never imported.
    Global(String),
    Storage(String, StorageType),
    Tensor(TensorRef),
    /// An instance created by NEWOBJ (e.g. a pickled `nn.Module`) with its BUILD state.
    Instance(String, Option<usize>),
    /// The result of a call this reader does not model.
    Opaque(String),
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Mark,
    Val(usize),
}

/// The pickle stack machine over inert values.
struct Machine<'a> {
    code: &'a [u8],
    pos: usize,
    arena: Vec<Value>,
    stack: Vec<Slot>,
    memo: HashMap<u64, usize>,
}

/// Deepest nesting followed when collecting names (pickles may be cyclic).
const MAX_DEPTH: usize = 64;

impl<'a> Machine<'a> {
    fn new(code: &'a [u8]) -> Self {
        Machine {
            code,
            pos: 0,
            arena: Vec::new(),
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> Msg<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.code.len())
            .ok_or("data.pkl is truncated")?;
        let s = &self.code[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Msg<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Msg<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Msg<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Msg<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "bad length")?))
    }

    fn line(&mut self) -> Msg<&'a str> {
        let rest = &self.code[self.pos..];
        let end = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("data.pkl is truncated")?;
        let s = std::str::from_utf8(&rest[..end]).map_err(|_| "data.pkl has a non-UTF-8 name")?;
        self.pos += end + 1;
        Ok(s)
    }

    fn len(&mut self, n: u64) -> Msg<usize> {
        // Lengths are checked against the bytes left before anything is allocated.
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.code.len() - self.pos)
            .ok_or_else(|| "data.pkl is truncated".to_string())
    }

    fn text(&mut self, n: usize) -> Msg<String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| "data.pkl has an invalid UTF-8 string".into())
    }

    fn push(&mut self, v: Value) {
        self.arena.push(v);
        self.stack.push(Slot::Val(self.arena.len() - 1));
    }

    fn pop(&mut self) -> Msg<usize> {
        match self.stack.pop() {
            Some(Slot::Val(id)) => Ok(id),
            Some(Slot::Mark) => Err("data.pkl is malformed (unexpected mark)".into()),
            None => Err("data.pkl is malformed (stack underflow)".into()),
        }
    }

    fn top(&self) -> Msg<usize> {
        match self.stack.last() {
            Some(Slot::Val(id)) => Ok(*id),
            _ => Err("data.pkl is malformed (no object on the stack)".into()),
        }
    }

    /// Pops everything down to the last mark (removing it).
    fn pop_mark(&mut self) -> Msg<Vec<usize>> {
        let at = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or("data.pkl is malformed (missing mark)")?;
        let items = self.stack[at + 1..]
            .iter()
            .map(|s| match s {
                Slot::Val(id) => *id,
                Slot::Mark => unreachable!("rposition found the last mark"),
            })
            .collect();
        self.stack.truncate(at);
        Ok(items)
    }

    fn memo_put(&mut self, key: u64) -> Msg<()> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Msg<()> {
        let id = *self
            .memo
            .get(&key)
            .ok_or("data.pkl is malformed (unknown memo entry)")?;
        self.stack.push(Slot::Val(id));
        Ok(())
    }

    fn extend_list(&mut self, list: usize, items: Vec<usize>) -> Msg<()> {
        match &mut self.arena[list] {
            Value::List(v) => {
                v.extend(items);
                Ok(())
            }
            // Appending to the result of an unmodelled call (e.g. a custom container): inert.
            Value::Opaque(_) | Value::Instance(..) => Ok(()),
            _ => Err("data.pkl is malformed (append to a non-list)".into()),
        }
    }

    fn set_items(&mut self, dict: usize, items: Vec<usize>) -> Msg<()> {
        if items.len() % 2 != 0 {
            return Err("data.pkl is malformed (odd number of dict items)".into());
        }
        let pairs = items.chunks_exact(2).map(|c| (c[0], c[1]));
        match &mut self.arena[dict] {
            Value::Dict(v) => {
                v.extend(pairs);
                Ok(())
            }
            Value::Opaque(_) | Value::Instance(..) => Ok(()),
            _ => Err("data.pkl is malformed (set item on a non-dict)".into()),
        }
    }

    /// Runs to STOP and returns the id of the result.
    fn run(&mut self) -> Msg<usize> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("unsupported pickle protocol {proto}"));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Slot::Mark),
                b'0' => {
                    self.stack.pop().ok_or("data.pkl is malformed (pop)")?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.stack.push(Slot::Val(id));
                }
                b'N' => self.push(Value::None),
                0x88 | 0x89 => self.push(Value::Bool),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        u64::from(self.u8()?)
                    } else {
                        u64::from(self.u32()?)
                    };
                    let n = self.len(n)?;
                    let b = self.take(n)?;
                    // Little-endian two's complement; beyond 8 bytes it is kept as opaque.
                    if n <= 8 {
                        let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                            0xff
                        } else {
                            0
                        };
                        let mut buf = [fill; 8];
                        buf[..n].copy_from_slice(b);
                        self.push(Value::Int(i64::from_le_bytes(buf)));
                    } else {
                        self.push(Value::Opaque("a big integer".into()));
                    }
                }
                b'I' | b'L' => {
                    let s = self.line()?;
                    let s = s.trim_end_matches('L');
                    let v = match s {
                        "00" | "01" => Value::Bool,
                        _ => s
                            .parse::<i64>()
                            .map(Value::Int)
                            .unwrap_or_else(|_| Value::Opaque("a big integer".into())),
                    };
                    self.push(v);
                }
                b'G' => {
                    // Floats (a checkpoint's learning rate) are never needed: skipped.
                    self.take(8)?;
                    self.push(Value::Float);
                }
                b'F' => {
                    self.line()?;
                    self.push(Value::Float);
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => u64::from(self.u32()?),
                        0x8c => u64::from(self.u8()?),
                        _ => self.u64()?,
                    };
                    let n = self.len(n)?;
                    let s = self.text(n)?;
                    self.push(Value::Str(s));
                }
                b'T' | b'U' => {
                    // Python 2 byte strings (protocol 2 writes them for some names).
                    let n = if op == b'T' {
                        u64::from(self.u32()?)
                    } else {
                        u64::from(self.u8()?)
                    };
                    let n = self.len(n)?;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.push(Value::Str(s));
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => u64::from(self.u32()?),
                        b'C' => u64::from(self.u8()?),
                        _ => self.u64()?,
                    };
                    let n = self.len(n)?;
                    self.take(n)?;
                    self.push(Value::Bytes);
                }
                b')' => self.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let k = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(k);
                    for _ in 0..k {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(items));
                }
                b']' => self.push(Value::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.extend_list(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.extend_list(list, items)?;
                }
                b'}' => self.push(Value::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()));
                    let d = self.top()?;
                    self.set_items(d, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, items)?;
                }
                0x8f => self.push(Value::List(Vec::new())), // EMPTY_SET, as a list
                0x90 => {
                    let items = self.pop_mark()?;
                    let set = self.top()?;
                    self.extend_list(set, items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(format!("{module}.{name}")));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.arena[module], &self.arena[name]) {
                        (Value::Str(m), Value::Str(n)) => {
                            let g = format!("{m}.{n}");
                            self.push(Value::Global(g));
                        }
                        _ => return Err("data.pkl is malformed (STACK_GLOBAL)".into()),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.stack.push(Slot::Val(v));
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?; // kwargs
                    }
                    self.pop()?; // args
                    let cls = self.pop()?;
                    let name = self.global_name(cls);
                    self.push(Value::Instance(name, None));
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.top()?;
                    self.build(obj, state);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.push(v);
                }
                b'q' => {
                    let k = self.u8()?;
                    self.memo_put(u64::from(k))?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(u64::from(k))?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let k = self.line()?.parse::<u64>().map_err(|_| "bad memo key")?;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()?;
                    self.memo_get(u64::from(k))?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(u64::from(k))?;
                }
                b'g' => {
                    let k = self.line()?.parse::<u64>().map_err(|_| "bad memo key")?;
                    self.memo_get(k)?;
                }
                other => {
                    return Err(format!(
                        "data.pkl uses pickle opcode 0x{other:02x} at byte {}, which torch.save \
                         does not write; not read",
                        self.pos - 1
                    ))
                }
            }
        }
    }

    fn global_name(&self, id: usize) -> String {
        match &self.arena[id] {
            Value::Global(g) => g.clone(),
            Value::Opaque(what) => what.clone(),
            other => format!("a {}", kind_name(other)),
        }
    }

    fn int(&self, id: usize, what: &str) -> Msg<usize> {
        match self.arena[id] {
            Value::Int(v) if v >= 0 => Ok(v as usize),
            _ => Err(format!(
                "data.pkl: a tensor's {what} is not a non-negative integer"
            )),
        }
    }

    fn ints(&self, id: usize, what: &str) -> Msg<Vec<usize>> {
        match &self.arena[id] {
            Value::Tuple(items) | Value::List(items) => {
                items.iter().map(|&i| self.int(i, what)).collect()
            }
            _ => Err(format!("data.pkl: a tensor's {what} is not a tuple")),
        }
    }

    fn tuple(&self, id: usize) -> Vec<usize> {
        match &self.arena[id] {
            Value::Tuple(items) | Value::List(items) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// Models the allow-listed calls; anything else is an inert opaque value.
    fn reduce(&mut self, callable: usize, args: usize) -> Msg<usize> {
        let name = self.global_name(callable);
        let a = self.tuple(args);
        let v = match name.as_str() {
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
                if a.len() < 4 {
                    return Err(format!("data.pkl: {name} with {} arguments", a.len()));
                }
                let (key, dtype) = match &self.arena[a[0]] {
                    Value::Storage(k, d) => (k.clone(), d.clone()),
                    _ => return Err(format!("data.pkl: {name} without a storage")),
                };
                let offset = self.int(a[1], "storage offset")?;
                let size = self.ints(a[2], "size")?;
                let stride = self.ints(a[3], "stride")?;
                if size.len() != stride.len() {
                    return Err("data.pkl: a tensor's size and stride differ in length".into());
                }
                Value::Tensor(TensorRef {
                    key,
                    dtype,
                    offset,
                    size,
                    stride,
                })
            }
            // nn.Parameter(data, requires_grad, hooks[, state]): the data is the tensor.
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
                return a
                    .first()
                    .copied()
                    .ok_or_else(|| format!("data.pkl: {name} without arguments"));
            }
            // Tensor subclasses: (func, type, args, state) — model func(*args).
            "torch._tensor._rebuild_from_type_v2" | "torch._tensor._rebuild_from_type" => {
                if a.len() < 3 {
                    return Err(format!("data.pkl: {name} with {} arguments", a.len()));
                }
                // One level only: a list can contain itself, so nesting could recurse forever.
                if self
                    .global_name(a[0])
                    .starts_with("torch._tensor._rebuild_from_type")
                {
                    return Err(format!("data.pkl: nested {name}"));
                }
                return self.reduce(a[0], a[2]);
            }
            "collections.OrderedDict" | "builtins.dict" | "__builtin__.dict" => {
                let mut pairs = Vec::new();
                if let Some(&items) = a.first() {
                    for pair in self.tuple(items) {
                        if let [k, v] = self.tuple(pair)[..] {
                            pairs.push((k, v));
                        }
                    }
                }
                Value::Dict(pairs)
            }
            "builtins.set"
            | "__builtin__.set"
            | "builtins.frozenset"
            | "__builtin__.frozenset"
            | "builtins.list"
            | "__builtin__.list"
            | "torch.Size" => Value::List(a.first().map(|&i| self.tuple(i)).unwrap_or_default()),
            "copyreg._reconstructor" | "copy_reg._reconstructor" => {
                let cls = a.first().map(|&c| self.global_name(c)).unwrap_or_default();
                Value::Instance(cls, None)
            }
            _ => Value::Opaque(name),
        };
        self.arena.push(v);
        Ok(self.arena.len() - 1)
    }

    fn build(&mut self, obj: usize, state: usize) {
        // Only instances keep their state; a dict's state is attributes (a state_dict's
        // `_metadata`), not items, and tensors' is hooks and metadata.
        if let Value::Instance(_, s) = &mut self.arena[obj] {
            *s = Some(state);
        }
    }

    fn persistent(&mut self, pid: usize) -> Msg<Value> {
        let t = self.tuple(pid);
        let is_storage = t
            .first()
            .is_some_and(|&i| matches!(&self.arena[i], Value::Str(s) if s == "storage"));
        if !is_storage || t.len() < 3 {
            return Err(
                "data.pkl refers to an external object that is not a storage; not read".into(),
            );
        }
        let class = self.global_name(t[1]);
        let key = match &self.arena[t[2]] {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => return Err("data.pkl: a storage key is not a string".into()),
        };
        if key.contains('/') || key.contains("..") {
            return Err(format!("data.pkl: invalid storage key '{key}'"));
        }
        Ok(Value::Storage(key, StorageType::from_class(&class)))
    }

    fn key_text(&self, id: usize) -> Option<String> {
        match &self.arena[id] {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// Walks the object graph and names every tensor as `state_dict()` would.
    fn collect(
        &self,
        id: usize,
        prefix: &str,
        depth: usize,
        seen: &mut HashSet<usize>,
        out: &mut Vec<(String, Entry)>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let join = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match &self.arena[id] {
            Value::Tensor(t) => out.push((prefix.to_string(), Entry::Tensor(t.clone()))),
            Value::Opaque(call) if !prefix.is_empty() => {
                out.push((prefix.to_string(), Entry::Opaque(call.clone())))
            }
            Value::Dict(items) => {
                if !seen.insert(id) {
                    return;
                }
                for &(k, v) in items {
                    if let Some(k) = self.key_text(k) {
                        self.collect(v, &join(&k), depth + 1, seen, out);
                    }
                }
            }
            Value::List(items) | Value::Tuple(items) => {
                if !seen.insert(id) {
                    return;
                }
                for (i, &v) in items.iter().enumerate() {
                    self.collect(v, &join(&i.to_string()), depth + 1, seen, out);
                }
            }
            Value::Instance(_, Some(state)) => {
                if !seen.insert(id) {
                    return;
                }
                // BUILD state is a __dict__, or (dict, slots) for classes with __slots__.
                let dict = match &self.arena[*state] {
                    Value::Tuple(parts) => parts.first().copied().unwrap_or(*state),
                    _ => *state,
                };
                let Value::Dict(items) = &self.arena[dict] else {
                    return;
                };
                for &(k, v) in items {
                    let Some(k) = self.key_text(k) else { continue };
                    match k.as_str() {
                        // nn.Module keeps parameters, buffers and submodules in these dicts;
                        // state_dict() names them without the dict's name.
                        "_parameters" | "_buffers" | "_modules" => {
                            self.collect(v, prefix, depth + 1, seen, out)
                        }
                        // Hooks and other private bookkeeping.
                        _ if k.starts_with('_') => {}
                        _ => self.collect(v, &join(&k), depth + 1, seen, out),
                    }
                }
            }
            _ => {}
        }
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool => "bool",
        Value::Int(_) => "int",
        Value::Float => "float",
        Value::Str(_) => "str",
        Value::Bytes => "bytes",
        Value::Tuple(_) => "tuple",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        Value::Global(_) => "global",
        Value::Storage(..) => "storage",
        Value::Tensor(_) => "tensor",
        Value::Instance(..) => "object",
        Value::Opaque(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written protocol-2 pickle: {'W': _rebuild_tensor_v2(storage '0', 1, (2,), (2,))}.
    fn pickle_dict_with_tensor(storage_class: &str) -> Vec<u8> {
        let mut p = vec![0x80, 2, b'}', b'q', 0];
        p.extend_from_slice(b"X\x01\x00\x00\x00W");
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend_from_slice(b"(X\x07\x00\x00\x00storage");
        p.extend_from_slice(format!("ctorch\n{storage_class}\n").as_bytes());
        p.extend_from_slice(b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x05tQ");
        p.extend_from_slice(b"K\x01K\x02\x85K\x02\x85\x89ccollections\nOrderedDict\n)Rtq\x01R");
        p.extend_from_slice(b"s.");
        p
    }

    #[test]
    fn interprets_a_strided_tensor_without_executing_anything() {
        let code = pickle_dict_with_tensor("DoubleStorage");
        let mut m = Machine::new(&code);
        let root = m.run().unwrap();
        let mut out = Vec::new();
        m.collect(root, "", 0, &mut HashSet::new(), &mut out);
        assert_eq!(out.len(), 1);
        let Entry::Tensor(t) = &out[0].1 else {
            panic!("not a tensor")
        };
        assert_eq!(out[0].0, "W");
        assert_eq!(
            (t.offset, t.size.clone(), t.stride.clone()),
            (1, vec![2], vec![2])
        );
        assert_eq!(t.dtype, StorageType::F64);
    }

    #[test]
    fn truncated_or_corrupt_pickles_are_errors_not_panics() {
        let code = pickle_dict_with_tensor("FloatStorage");
        for cut in 0..code.len() {
            let _ = Machine::new(&code[..cut]).run();
        }
        // Every single-byte corruption must return (Ok or Err), never panic.
        for i in 0..code.len() {
            for b in [0x00u8, 0x28, 0x2e, 0x52, 0x71, 0x73, 0x81, 0x85, 0x8a, 0xff] {
                let mut c = code.clone();
                c[i] = b;
                let mut m = Machine::new(&c);
                if let Ok(root) = m.run() {
                    let mut out = Vec::new();
                    m.collect(root, "", 0, &mut HashSet::new(), &mut out);
                }
            }
        }
        assert!(Machine::new(&code[..code.len() - 1]).run().is_err());
    }

    /// The data.pkl torch 2.15 wrote for a pickled nn.Module (the committed fixture).
    fn module_pickle() -> Vec<u8> {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights/torch_module_3d.pt");
        let bytes = std::fs::read(path).unwrap();
        open_archive(&bytes).unwrap().1
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 400,
            rng_seed: proptest::test_runner::RngSeed::Fixed(11),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]

        /// Random edits of a real module pickle (the zip CRC would reject them before the
        /// interpreter sees them, so it is fuzzed directly): Ok or Err, never a panic, and
        /// never more values than opcodes.
        #[test]
        fn edited_pickles_never_panic(
            edits in proptest::collection::vec((0usize..1100, proptest::num::u8::ANY), 1..6),
            cut in 0usize..1200,
        ) {
            let mut code = module_pickle();
            for (pos, byte) in edits {
                let i = pos % code.len();
                code[i] = byte;
            }
            code.truncate(cut.max(1));
            let mut m = Machine::new(&code);
            if let Ok(root) = m.run() {
                let mut out = Vec::new();
                m.collect(root, "", 0, &mut HashSet::new(), &mut out);
            }
            proptest::prop_assert!(m.arena.len() <= code.len());
        }
    }

    #[test]
    fn the_real_module_pickle_names_its_parameters() {
        let code = module_pickle();
        let mut m = Machine::new(&code);
        let root = m.run().unwrap();
        let mut out = Vec::new();
        m.collect(root, "", 0, &mut HashSet::new(), &mut out);
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["W", "b_final", "feature_probability", "importance"]);
    }

    #[test]
    fn unknown_calls_stay_opaque() {
        // {'W': os.system('echo')} — the call is recorded by name, never made.
        let code = b"\x80\x02}X\x01\x00\x00\x00Wcos\nsystem\nX\x04\x00\x00\x00echo\x85Rs.";
        let mut m = Machine::new(code);
        let root = m.run().unwrap();
        let mut out = Vec::new();
        m.collect(root, "", 0, &mut HashSet::new(), &mut out);
        assert!(matches!(&out[0].1, Entry::Opaque(c) if c == "os.system"));
    }

    #[test]
    fn non_torch_files_are_named() {
        let legacy = TorchFile::from_bytes(vec![0x80, 0x02, 0x8a, 0x0a]).unwrap_err();
        assert!(legacy.contains("legacy"), "{legacy}");
        let junk = TorchFile::from_bytes(b"hello".to_vec()).unwrap_err();
        assert!(junk.contains("not a torch.save file"), "{junk}");
        let bad_zip = TorchFile::from_bytes(b"PK\x03\x04garbage".to_vec()).unwrap_err();
        assert!(bad_zip.contains("zip"), "{bad_zip}");
    }
}
