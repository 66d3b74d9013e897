//! A symbolic pickle machine for torch checkpoints. It never calls anything: GLOBALs resolve only
//! to a short allowlist of torch/collections names, REDUCE only builds the few shapes torch.save
//! emits (empty OrderedDict, tensor rebuilds), and everything else is refused with its byte offset.
//!
//! Values are reference-counted so that memo gets cost O(1): a hostile pickle cannot make us copy
//! a structure exponentially often. Nesting depth, stack and memo sizes are capped.

use crate::dtype::DType;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::rc::Rc;

const MAX_DEPTH: u32 = 64;
const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 20;

/// Callables and classes the machine knows by name. Nothing outside this list can be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    Storage(DType),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Global> {
        Some(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
            ("torch", storage) => Global::Storage(DType::from_torch_storage(storage)?),
            _ => return None,
        })
    }
}

/// A storage named by a persistent id: `('storage', <X>Storage, key, location, numel[, view])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: DType,
    pub numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage, in elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Seq {
    pub items: Vec<Value>,
    depth: u32,
}

#[derive(Debug, Clone)]
pub struct Dict {
    /// Key order is preserved: state dicts list tensors in module order.
    pub items: Vec<(Value, Value)>,
    depth: u32,
}

#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Str(Rc<str>),
    Tuple(Rc<Seq>),
    List(Rc<Seq>),
    Dict(Rc<Dict>),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    fn depth(&self) -> u32 {
        match self {
            Value::Tuple(s) | Value::List(s) => s.depth,
            Value::Dict(d) => d.depth,
            _ => 0,
        }
    }
    fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i128),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(s) | Value::Tuple(s) => Some(&s.items),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(d) => Some(&d.items),
            _ => None,
        }
    }
    /// A short rendering for error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Str(s) if s.len() <= 40 => format!("{s:?}"),
            Value::Bool(b) => b.to_string(),
            other => other.type_name().to_string(),
        }
    }
}

fn seq(items: Vec<Value>) -> Result<Rc<Seq>> {
    let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
    if depth > MAX_DEPTH {
        return Err(Error::refused(format!("pickle nests deeper than {MAX_DEPTH} levels")));
    }
    Ok(Rc::new(Seq { items, depth }))
}

/// The result of running one pickle: the object and the number of bytes it took (the legacy
/// format concatenates several pickles).
pub struct Parsed {
    pub value: Value,
    pub len: usize,
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

/// Run the pickle at the start of `data`.
pub fn parse(data: &[u8]) -> Result<Parsed> {
    let mut m = Machine { data, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() };
    let value = m.run()?;
    Ok(Parsed { value, len: m.pos })
}

impl<'a> Machine<'a> {
    fn err_at(&self, at: usize, msg: impl std::fmt::Display) -> Error {
        Error::corrupt(format!("pickle byte {at}: {msg}"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err_at(self.pos, format!("needs {n} more bytes but the data ends (truncated?)"))),
        }
    }
    fn u8(&mut self) -> Result<u8> {
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
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .take(256)
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err_at(self.pos, "unterminated or over-long GLOBAL name"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.err_at(self.pos, "GLOBAL name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }
    fn string(&mut self, n: u64) -> Result<Value> {
        let at = self.pos;
        let n = usize::try_from(n).map_err(|_| self.err_at(at, "string length overflows"))?;
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| self.err_at(at, "string is not valid UTF-8"))?;
        Ok(Value::Str(Rc::from(s)))
    }

    fn push(&mut self, v: Value) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(Error::refused(format!("pickle stack grows past {MAX_STACK} items")));
        }
        self.stack.push(v);
        Ok(())
    }
    fn pop(&mut self, at: usize) -> Result<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err_at(at, "stack underflow"));
        }
        Ok(self.stack.pop().expect("checked above"))
    }
    fn top(&mut self, at: usize) -> Result<&mut Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err_at(at, "stack underflow"));
        }
        Ok(self.stack.last_mut().expect("checked above"))
    }
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Value>> {
        let mark = self.marks.pop().ok_or_else(|| self.err_at(at, "no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }
    fn memo_put(&mut self, at: usize, idx: u32) -> Result<()> {
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&idx) {
            return Err(Error::refused(format!("pickle memo grows past {MAX_MEMO} entries")));
        }
        let v = self.top(at)?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }
    fn memo_get(&mut self, at: usize, idx: u32) -> Result<()> {
        let v =
            self.memo.get(&idx).cloned().ok_or_else(|| self.err_at(at, format!("memo key {idx} is not defined")))?;
        self.push(v)
    }
    fn global(&mut self, at: usize, module: &str, name: &str) -> Result<()> {
        match Global::resolve(module, name) {
            Some(g) => self.push(Value::Global(g)),
            None => Err(Error::refused(format!(
                "pickle byte {at}: global '{module}.{name}' is not on the allowlist of torch checkpoint \
                 names; rwkv-convert never executes pickle code, so this file cannot be read"
            ))),
        }
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.err_at(at, format!("unknown pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => {
                    let v = self.pop(at)?;
                    return Ok(v);
                }
                b'(' => {
                    if self.marks.len() >= MAX_STACK {
                        return Err(Error::refused("pickle has too many open MARKs"));
                    }
                    self.marks.push(self.stack.len());
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i128))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i128))?
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i128))?
                }
                0x8a => {
                    // LONG1: little-endian two's complement; 16 bytes is enough for the legacy magic.
                    let n = self.u8()? as usize;
                    if n > 16 {
                        return Err(Error::refused(format!("pickle byte {at}: integer of {n} bytes is too large")));
                    }
                    let b = self.take(n)?;
                    let mut v: i128 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= (byte as i128) << (8 * i);
                    }
                    if n > 0 && n < 16 && b[n - 1] & 0x80 != 0 {
                        v -= 1i128 << (8 * n);
                    }
                    self.push(Value::Int(v))?
                }
                b'X' => {
                    let n = self.u32()? as u64;
                    let s = self.string(n)?;
                    self.push(s)?
                }
                0x8c => {
                    let n = self.u8()? as u64;
                    let s = self.string(n)?;
                    self.push(s)?
                }
                0x8d => {
                    let n = self.u64()?;
                    let s = self.string(n)?;
                    self.push(s)?
                }
                b')' => self.push(Value::Tuple(seq(Vec::new())?))?,
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.push(Value::Tuple(seq(items)?))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at)?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(seq(items)?))?
                }
                b']' => self.push(Value::List(seq(Vec::new())?))?,
                b'l' => {
                    let items = self.pop_mark(at)?;
                    self.push(Value::List(seq(items)?))?
                }
                b'a' | b'e' => {
                    let items = if op == b'a' { vec![self.pop(at)?] } else { self.pop_mark(at)? };
                    let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
                    match self.top(at)? {
                        Value::List(list) => {
                            let list = Rc::make_mut(list);
                            list.depth = list.depth.max(depth);
                            list.items.extend(items);
                            if list.depth > MAX_DEPTH {
                                return Err(Error::refused(format!("pickle nests deeper than {MAX_DEPTH} levels")));
                            }
                        }
                        other => {
                            let t = other.type_name();
                            return Err(self.err_at(at, format!("APPEND to a {t}")));
                        }
                    }
                }
                b'}' => self.push(Value::Dict(Rc::new(Dict { items: Vec::new(), depth: 1 })))?,
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop(at)?;
                        let k = self.pop(at)?;
                        vec![k, v]
                    } else {
                        self.pop_mark(at)?
                    };
                    if items.len() % 2 != 0 {
                        return Err(self.err_at(at, "SETITEMS with an odd number of items"));
                    }
                    let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
                    match self.top(at)? {
                        Value::Dict(dict) => {
                            let dict = Rc::make_mut(dict);
                            dict.depth = dict.depth.max(depth);
                            let mut it = items.into_iter();
                            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                                dict.items.push((k, v));
                            }
                            if dict.depth > MAX_DEPTH {
                                return Err(Error::refused(format!("pickle nests deeper than {MAX_DEPTH} levels")));
                            }
                        }
                        other => {
                            let t = other.type_name();
                            return Err(self.err_at(at, format!("SETITEM on a {t}")));
                        }
                    }
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(at, i)?
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(at, i)?
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len()).expect("memo is capped");
                    self.memo_put(at, i)?
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    self.memo_get(at, i)?
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(at, i)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(at, module, name)?
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    match (module.as_str(), name.as_str()) {
                        (Some(m), Some(n)) => {
                            let (m, n) = (m.to_string(), n.to_string());
                            self.global(at, &m, &n)?
                        }
                        _ => return Err(self.err_at(at, "STACK_GLOBAL needs two strings")),
                    }
                }
                b'Q' => {
                    let pid = self.pop(at)?;
                    let storage = self.persistent_load(at, &pid)?;
                    self.push(Value::Storage(Rc::new(storage)))?
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let func = self.pop(at)?;
                    let v = self.reduce(at, &func, &args)?;
                    self.push(v)?
                }
                b'b' => {
                    let _state = self.pop(at)?;
                    match self.top(at)? {
                        // state_dict() pickles its `_metadata` attribute this way; we ignore it.
                        Value::Dict(_) => {}
                        other => {
                            let t = other.type_name();
                            return Err(Error::refused(format!("pickle byte {at}: BUILD on a {t} is not allowed")));
                        }
                    }
                }
                _ => {
                    return Err(Error::refused(format!(
                        "pickle byte {at}: opcode 0x{op:02x} ({:?}) is not one that torch.save writes for a \
                         state dict; refused",
                        op as char
                    )))
                }
            }
        }
    }

    fn persistent_load(&self, at: usize, pid: &Value) -> Result<StorageRef> {
        let bad = |why: &str| Error::refused(format!("pickle byte {at}: persistent id {why}"));
        let items = match pid {
            Value::Tuple(t) => &t.items,
            _ => return Err(bad("is not a tuple")),
        };
        if !(items.len() == 5 || items.len() == 6) || items[0].as_str() != Some("storage") {
            return Err(bad("is not ('storage', type, key, location, numel)"));
        }
        let dtype = match items[1] {
            Value::Global(Global::Storage(d)) => d,
            _ => return Err(bad("does not name a torch storage type")),
        };
        let key = items[2].as_str().ok_or_else(|| bad("has a non-string key"))?.to_string();
        items[3].as_str().ok_or_else(|| bad("has a non-string location"))?;
        let numel =
            items[4].as_int().and_then(|n| u64::try_from(n).ok()).ok_or_else(|| bad("has a bad element count"))?;
        if items.len() == 6 && !matches!(items[5], Value::None) {
            return Err(Error::unsupported(format!(
                "pickle byte {at}: storage '{key}' is a view of another storage (legacy view metadata)"
            )));
        }
        Ok(StorageRef { key, dtype, numel })
    }

    fn reduce(&self, at: usize, func: &Value, args: &Value) -> Result<Value> {
        let g = match func {
            Value::Global(g) => *g,
            other => {
                return Err(Error::refused(format!("pickle byte {at}: REDUCE on a {}", other.type_name())));
            }
        };
        let args = match args {
            Value::Tuple(t) => &t.items[..],
            _ => return Err(self.err_at(at, "REDUCE arguments are not a tuple")),
        };
        let bad = |what: &str| Error::refused(format!("pickle byte {at}: {g:?} called with {what}"));
        match g {
            Global::OrderedDict if args.is_empty() => Ok(Value::Dict(Rc::new(Dict { items: Vec::new(), depth: 1 }))),
            Global::RebuildTensorV2 | Global::RebuildTensor => {
                let n = args.len();
                let ok_arity = if g == Global::RebuildTensor { n == 4 } else { n == 6 || n == 7 };
                if !ok_arity {
                    return Err(bad(&format!("{n} arguments")));
                }
                if n == 7 && !args[6].as_dict().is_some_and(|d| d.is_empty()) {
                    return Err(Error::unsupported(format!(
                        "pickle byte {at}: tensor carries metadata (conjugate/negative bits); not supported"
                    )));
                }
                let storage = match &args[0] {
                    Value::Storage(s) => (**s).clone(),
                    other => return Err(bad(&format!("a {} instead of a storage", other.type_name()))),
                };
                let offset =
                    args[1].as_int().and_then(|i| u64::try_from(i).ok()).ok_or_else(|| bad("a bad storage offset"))?;
                let dims = |v: &Value, what: &str| -> Result<Vec<usize>> {
                    v.as_list()
                        .ok_or_else(|| bad(&format!("a {what} that is not a tuple")))?
                        .iter()
                        .map(|d| {
                            d.as_int()
                                .and_then(|i| usize::try_from(i).ok())
                                .ok_or_else(|| bad(&format!("a bad {what} entry")))
                        })
                        .collect()
                };
                let shape = dims(&args[2], "size")?;
                let stride = dims(&args[3], "stride")?;
                if shape.len() != stride.len() {
                    return Err(bad("size and stride of different lengths"));
                }
                Ok(Value::Tensor(Rc::new(TensorRef { storage, offset, shape, stride })))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => {
                let n = if g == Global::RebuildParameter { 3 } else { 4 };
                if args.len() != n {
                    return Err(bad(&format!("{} arguments", args.len())));
                }
                if n == 4 && !(matches!(args[3], Value::None) || args[3].as_dict().is_some_and(|d| d.is_empty())) {
                    return Err(Error::unsupported(format!("pickle byte {at}: parameter carries extra state")));
                }
                match &args[0] {
                    Value::Tensor(_) => Ok(args[0].clone()),
                    other => Err(bad(&format!("a {} instead of a tensor", other.type_name()))),
                }
            }
            _ => Err(bad(&format!("{} arguments", args.len()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(data: &[u8]) -> Error {
        match parse(data) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn refuses_os_system_by_global() {
        // cos\nsystem\n(S'touch x'\ntR.  (protocol 0 form, then our refusal fires at the GLOBAL)
        let e = err(b"\x80\x02cposix\nsystem\nX\x07\x00\x00\x00touch x\x85R.");
        assert_eq!(e.kind, crate::ErrorKind::Refused);
        assert!(e.message.contains("posix.system"), "{e}");
    }

    #[test]
    fn refuses_eval_by_stack_global() {
        let e = err(b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x041+1\x85R.");
        assert_eq!(e.kind, crate::ErrorKind::Refused);
        assert!(e.message.contains("builtins.eval"), "{e}");
    }

    #[test]
    fn reads_ints_lists_and_dicts() {
        // {'a': [1, -2, 70000], 'b': True} with LONG1 and BININT
        let p =
            b"\x80\x02}q\x00(X\x01\x00\x00\x00a]q\x01(K\x01J\xfe\xff\xff\xff\x8a\x03p\x11\x01eX\x01\x00\x00\x00b\x88u.";
        let v = parse(p).unwrap().value;
        let d = v.as_dict().unwrap();
        assert_eq!(d[0].0.as_str(), Some("a"));
        let l: Vec<i128> = d[0].1.as_list().unwrap().iter().map(|x| x.as_int().unwrap()).collect();
        assert_eq!(l, vec![1, -2, 70000]);
        assert_eq!(d[1].1.as_int(), Some(1));
    }

    #[test]
    fn long1_sign_extends() {
        let v = parse(b"\x80\x02\x8a\x02\x00\xff.").unwrap().value;
        assert_eq!(v.as_int(), Some(-256));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut p = vec![0x80, 2];
        p.extend(std::iter::repeat(b']').take(1));
        for _ in 0..10_000 {
            p.push(0x85); // wrap in a 1-tuple
        }
        p.push(b'.');
        let e = err(&p);
        assert_eq!(e.kind, crate::ErrorKind::Refused);
    }

    #[test]
    fn memo_doubling_stays_cheap() {
        // x = []; repeat: x = (x, x) via BINGET; 200 rounds would be 2^200 nodes if copied.
        let mut p = vec![0x80, 2, b']', b'q', 0];
        for _ in 0..60 {
            p.extend_from_slice(&[b'0' - b'0' + b'h', 0, b'h', 0, 0x86, b'q', 0]);
        }
        p.push(b'.');
        // Depth 61 is within the cap: parses, and quickly.
        assert!(parse(&p).is_ok());
    }

    /// The hostile shapes of the hardening issue, one each: refused with a clear message, quickly,
    /// without allocating by what the file claims.
    #[test]
    fn hostile_opcodes_are_refused() {
        let cases: [(&[u8], &str); 7] = [
            // LONG1 of 200 bytes and LONG4 of 4 GiB (a huge integer).
            (b"\x80\x02\x8a\xc8", "too large"),
            (b"\x80\x02\x8b\xff\xff\xff\xff", "opcode 0x8b"),
            // BUILD on a list.
            (b"\x80\x02]}b.", "BUILD on a list"),
            // REDUCE with a string as the callable.
            (b"\x80\x02X\x01\x00\x00\x00f)R.", "REDUCE on a"),
            // A memo index far beyond anything stored (LONG_BINPUT 2^32-1, then BINGET 7).
            (b"\x80\x02]r\xff\xff\xff\xffh\x07.", ""),
            // INST (protocol 0 object construction) and OBJ.
            (b"\x80\x02(iposix\nsystem\n.", ""),
            (b"\x80\x02(o.", ""),
        ];
        for (p, phrase) in cases {
            let t = std::time::Instant::now();
            let e = err(p);
            assert!(t.elapsed().as_secs() < 1, "{p:?} took {:?}", t.elapsed());
            assert!(e.message.contains(phrase), "{p:?}: {e}");
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn truncated_pickle_is_an_error() {
        let e = err(b"\x80\x02X\x10\x00\x00\x00abc");
        assert_eq!(e.kind, crate::ErrorKind::Corrupt);
        assert!(e.message.contains("truncated"), "{e}");
    }
}
