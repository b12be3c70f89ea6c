//! The GGUF file format (versions 2 and 3), as llama.cpp writes it: a header, typed metadata,
//! a tensor table, then the tensor data, aligned.
//!
//! ```text
//! "GGUF" | version u32 | tensor_count u64 | metadata_count u64
//! metadata_count × { key: string, type: u32, value }
//! tensor_count   × { name: string, n_dims: u32, dims: n_dims × u64, type: u32, offset: u64 }
//! padding to `general.alignment` (default 32), then the data; each offset is relative to it
//! ```
//! A string is a u64 byte length and UTF-8 bytes; everything is little-endian. `dims[0]` is the
//! fastest-moving axis: a matrix with dims `[in, out]` is `out` rows of `in` values.
//!
//! Every length, count, offset and size the file claims is checked against the bytes actually
//! there before anything is allocated or read: a truncated, corrupt or hostile file gets a
//! [`GgufError`] naming what was wrong, never a panic or a huge allocation.
//!
//! [`GgufWriter`] writes the same format: the tests build small random-weight models with it.

use std::collections::BTreeMap;

use thiserror::Error;

/// "GGUF" read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
/// The data section's alignment when the file does not say.
const DEFAULT_ALIGNMENT: u64 = 32;
/// More dimensions than any ggml tensor has.
const MAX_DIMS: u32 = 4;
/// Elements in one tensor: 2^36 (a 64 GB f8 tensor) is past anything Gaze could run; a larger
/// claim is a corrupt file, refused before any arithmetic can overflow.
const MAX_ELEMENTS: u64 = 1 << 36;
/// The largest model file Gaze reads: 16 GiB, past any model it could run.
pub const MAX_FILE_BYTES: u64 = 16 << 30;
/// Nesting of metadata arrays (arrays of arrays): real files use one level.
const MAX_ARRAY_DEPTH: u32 = 4;

/// What can be wrong with a GGUF file. Every message names the file's part at fault.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GgufError {
    /// Not a GGUF file at all.
    #[error("this is not a GGUF file: it starts with {found:02x?}, not \"GGUF\"")]
    BadMagic {
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// A version this reader does not know.
    #[error("this GGUF file is version {0}; Gaze reads versions 2 and 3")]
    UnsupportedVersion(u32),
    /// The file ends before something it announced.
    #[error("the GGUF file is cut short: {what} needs {needed} bytes at offset {offset}, but the file has {len}")]
    Truncated {
        /// What was being read.
        what: String,
        /// Where.
        offset: u64,
        /// How many bytes it needed.
        needed: u64,
        /// The file's length.
        len: u64,
    },
    /// A metadata value or tensor entry that makes no sense.
    #[error("the GGUF file is malformed: {0}")]
    Malformed(String),
    /// A tensor whose data does not lie inside the file.
    #[error("the GGUF file's tensor {name} claims bytes {start}..{end}, past the file's end ({len} bytes)")]
    TensorOutOfBounds {
        /// Tensor name.
        name: String,
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// A tensor of a type this reader does not decode.
    #[error("this file's tensor {name} is {kind}, which Gaze does not read yet (it reads F32, F16, Q8_0, Q4_0 and Q4_1)")]
    UnsupportedTensorType {
        /// Tensor name.
        name: String,
        /// The ggml type's name, e.g. `Q5_K`.
        kind: String,
    },
    /// A metadata key the model needs is absent or of the wrong type.
    #[error("the GGUF file has no usable `{key}` ({why})")]
    MissingKey {
        /// The key.
        key: String,
        /// What was wrong.
        why: String,
    },
    /// A tensor the model needs is absent.
    #[error("the GGUF file has no tensor `{0}`")]
    MissingTensor(String),
}

/// A ggml tensor type Gaze reads, with its block layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// 32-bit floats.
    F32,
    /// IEEE half floats.
    F16,
    /// Blocks of 32: f16 scale `d`, 32 × i8; value = d·q.
    Q8_0,
    /// Blocks of 32: f16 scale `d`, 16 bytes of nibbles; value = d·(q − 8).
    Q4_0,
    /// Blocks of 32: f16 scale `d`, f16 minimum `m`, 16 bytes of nibbles; value = d·q + m.
    Q4_1,
}

impl TensorType {
    /// The ggml type id, as stored in the tensor table.
    pub fn ggml_id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q8_0 => 8,
        }
    }

    /// The type with ggml id `id`, or the name of the unsupported one.
    pub fn from_ggml_id(id: u32) -> Result<Self, String> {
        Ok(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            other => return Err(ggml_type_name(other)),
        })
    }

    /// Values per block (1 for the float types).
    pub fn block_len(self) -> u64 {
        match self {
            Self::F32 | Self::F16 => 1,
            Self::Q8_0 | Self::Q4_0 | Self::Q4_1 => 32,
        }
    }

    /// Bytes per block in the file.
    pub fn block_bytes(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
            Self::Q8_0 => 34,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
        }
    }

    /// The name ggml uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q8_0 => "Q8_0",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
        }
    }

    /// Bytes of `elements` values of this type, if `elements` fills whole blocks.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        elements
            .is_multiple_of(self.block_len())
            .then(|| elements / self.block_len())
            .and_then(|blocks| blocks.checked_mul(self.block_bytes()))
    }
}

/// ggml's name for a type id (so an unsupported one is named in the message).
fn ggml_type_name(id: u32) -> String {
    let name = match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        _ => return format!("ggml type {id}"),
    };
    name.to_owned()
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any unsigned integer type (u8, u16, u32, u64).
    U64(u64),
    /// Any signed integer type (i8, i16, i32, i64).
    I64(i64),
    /// f32 or f64.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    String(String),
    /// An array of values (all of one type in the file).
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U64(v) => Some(v),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F64(v) => Some(v),
            Self::U64(v) => Some(v as f64),
            Self::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// One entry of the tensor table, checked against the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Its name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, fastest first (`[in, out]` for a matrix).
    pub dims: Vec<u64>,
    /// Its type.
    pub kind: TensorType,
    /// Where its bytes start in the file (absolute).
    pub start: usize,
    /// How many bytes it has.
    pub len: usize,
}

impl TensorInfo {
    /// Number of values.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file: its metadata, its tensor table, and the bytes the table points into.
#[derive(Clone, Debug)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata, by key (sorted: what reaches a user is in a stable order).
    pub metadata: BTreeMap<String, Value>,
    /// The tensor table, in file order.
    pub tensors: Vec<TensorInfo>,
    bytes: Vec<u8>,
}

impl GgufFile {
    /// Parses `bytes` (a whole file). The tensor table is checked: every tensor's type is one
    /// Gaze reads, its size matches its dimensions, and its bytes lie inside the file.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, GgufError> {
        let mut reader = Reader {
            bytes: &bytes,
            at: 0,
        };
        let magic = reader.u32("the magic number")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic {
                found: bytes.iter().take(4).copied().collect(),
            });
        }
        let version = reader.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let tensor_count = reader.u64("the tensor count")?;
        let metadata_count = reader.u64("the metadata count")?;
        // Each metadata entry takes at least 12 bytes (key length + type), each tensor entry at
        // least 24: a count the file cannot hold is refused before anything is reserved.
        if metadata_count > reader.remaining() / 12 || tensor_count > reader.remaining() / 24 {
            return Err(GgufError::Malformed(format!(
                "it claims {metadata_count} metadata entries and {tensor_count} tensors, more than its {} bytes can hold",
                bytes.len()
            )));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..metadata_count {
            let key = reader.string("a metadata key")?;
            let kind = reader.u32("a metadata type")?;
            let value = reader.value(kind, &key, 0)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(value) => match value.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
                _ => {
                    return Err(GgufError::Malformed(format!(
                        "general.alignment is {value:?}, not a power of two"
                    )))
                }
            },
        };
        let mut entries = Vec::new();
        for _ in 0..tensor_count {
            let name = reader.string("a tensor name")?;
            let n_dims = reader.u32("a tensor's dimension count")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::Malformed(format!(
                    "tensor {name} has {n_dims} dimensions (1 to {MAX_DIMS} expected)"
                )));
            }
            let mut dims = Vec::new();
            for _ in 0..n_dims {
                dims.push(reader.u64("a tensor dimension")?);
            }
            let kind = reader.u32("a tensor type")?;
            let offset = reader.u64("a tensor offset")?;
            entries.push((name, dims, kind, offset));
        }
        let data_start = (reader.at as u64).div_ceil(alignment) * alignment;
        let len = bytes.len() as u64;
        let mut tensors = Vec::with_capacity(entries.len());
        for (name, dims, kind, offset) in entries {
            let elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .filter(|&e| e <= MAX_ELEMENTS && e > 0)
                .ok_or_else(|| {
                    GgufError::Malformed(format!(
                        "tensor {name} has dimensions {dims:?}: empty, or more than 2^36 values"
                    ))
                })?;
            let kind = TensorType::from_ggml_id(kind).map_err(|kind| {
                GgufError::UnsupportedTensorType {
                    name: name.clone(),
                    kind,
                }
            })?;
            let first_dim = dims.first().copied().unwrap_or(0);
            let size = kind
                .bytes_for(elements)
                .filter(|_| first_dim % kind.block_len() == 0)
                .ok_or_else(|| {
                    GgufError::Malformed(format!(
                        "tensor {name} ({}, dims {dims:?}) does not fill whole {}-value blocks",
                        kind.name(),
                        kind.block_len()
                    ))
                })?;
            if offset % alignment != 0 {
                return Err(GgufError::Malformed(format!(
                    "tensor {name}'s offset {offset} is not a multiple of the alignment {alignment}"
                )));
            }
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(size));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(GgufError::Malformed(format!(
                    "tensor {name}'s offset {offset} overflows"
                )));
            };
            if end > len {
                return Err(GgufError::TensorOutOfBounds {
                    name,
                    start,
                    end,
                    len,
                });
            }
            // `end <= len` and `len` came from a slice, so both fit a usize.
            tensors.push(TensorInfo {
                name,
                dims,
                kind,
                start: start as usize,
                len: size as usize,
            });
        }
        Ok(Self {
            version,
            metadata,
            tensors,
            bytes,
        })
    }

    /// Reads and parses the file at `path`. The magic number and version are checked, and the
    /// size against [`MAX_FILE_BYTES`], before the rest is read: 2 GB of random bytes are refused
    /// after reading eight.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &std::path::Path) -> Result<Self, GgufOpenError> {
        use std::io::Read;
        let io = |e: std::io::Error| GgufOpenError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut header = [0u8; 8];
        let read = file.read(&mut header).map_err(io)?;
        let mut reader = Reader {
            bytes: header.get(..read).unwrap_or(&[]),
            at: 0,
        };
        let magic = reader
            .u32("the magic number")
            .map_err(GgufOpenError::Format)?;
        if magic != MAGIC {
            return Err(GgufOpenError::Format(GgufError::BadMagic {
                found: header.iter().take(read.min(4)).copied().collect(),
            }));
        }
        let version = reader.u32("the version").map_err(GgufOpenError::Format)?;
        if !(2..=3).contains(&version) {
            return Err(GgufOpenError::Format(GgufError::UnsupportedVersion(
                version,
            )));
        }
        if len > MAX_FILE_BYTES {
            return Err(GgufOpenError::Format(GgufError::Malformed(format!(
                "the file is {len} bytes; Gaze reads model files of up to {MAX_FILE_BYTES} bytes (16 GiB)"
            ))));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        bytes.extend_from_slice(&header);
        file.read_to_end(&mut bytes).map_err(io)?;
        Self::parse(bytes).map_err(GgufOpenError::Format)
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of `tensor` (checked against the file when it was parsed).
    pub fn tensor_bytes(&self, tensor: &TensorInfo) -> &[u8] {
        self.bytes
            .get(tensor.start..tensor.start.saturating_add(tensor.len))
            .unwrap_or(&[])
    }

    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the file is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A required unsigned integer.
    pub fn require_u64(&self, key: &str) -> Result<u64, GgufError> {
        let value = self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
            why: "absent".into(),
        })?;
        value.as_u64().ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
            why: format!("{value:?} is not a non-negative integer"),
        })
    }

    /// A required float.
    pub fn require_f64(&self, key: &str) -> Result<f64, GgufError> {
        let value = self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
            why: "absent".into(),
        })?;
        value.as_f64().ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
            why: format!("{value:?} is not a number"),
        })
    }

    /// A required string.
    pub fn require_str(&self, key: &str) -> Result<&str, GgufError> {
        let value = self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
            why: "absent".into(),
        })?;
        value.as_str().ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
            why: format!("{value:?} is not a string"),
        })
    }

    /// A string array (tokens, merges), each element a string.
    pub fn string_array(&self, key: &str) -> Result<Vec<String>, GgufError> {
        let items =
            self.get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| GgufError::MissingKey {
                    key: key.to_owned(),
                    why: "absent or not an array".into(),
                })?;
        items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| GgufError::MissingKey {
                        key: key.to_owned(),
                        why: "an element is not a string".into(),
                    })
            })
            .collect()
    }
}

/// Opening a GGUF file from disk: the I/O error or the format error.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GgufOpenError {
    /// The file could not be read.
    #[error("could not read {path}: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The OS's words.
        reason: String,
    },
    /// The file is not a GGUF file Gaze reads.
    #[error(transparent)]
    Format(GgufError),
}

/// A cursor over the file's bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.at.min(self.bytes.len())) as u64
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&[u8], GgufError> {
        let truncated = || GgufError::Truncated {
            what: what.to_owned(),
            offset: self.at as u64,
            needed: n,
            len: self.bytes.len() as u64,
        };
        if n > self.remaining() {
            return Err(truncated());
        }
        let end = self.at + n as usize;
        let slice = self.bytes.get(self.at..end).ok_or_else(truncated)?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let slice = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| GgufError::Malformed(format!("{what} is not valid UTF-8")))
    }

    /// One metadata value of GGUF type `kind` (0 u8 … 12 f64).
    fn value(&mut self, kind: u32, key: &str, depth: u32) -> Result<Value, GgufError> {
        let what = format!("metadata `{key}`");
        Ok(match kind {
            0 => Value::U64(u64::from(self.array::<1>(&what)?[0])),
            1 => Value::I64(i64::from(i8::from_le_bytes(self.array(&what)?))),
            2 => Value::U64(u64::from(u16::from_le_bytes(self.array(&what)?))),
            3 => Value::I64(i64::from(i16::from_le_bytes(self.array(&what)?))),
            4 => Value::U64(u64::from(self.u32(&what)?)),
            5 => Value::I64(i64::from(i32::from_le_bytes(self.array(&what)?))),
            6 => Value::F64(f64::from(f32::from_le_bytes(self.array(&what)?))),
            7 => match self.array::<1>(&what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(GgufError::Malformed(format!(
                        "{what} is a boolean of value {b}"
                    )))
                }
            },
            8 => Value::String(self.string(&what)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::Malformed(format!(
                        "{what} nests arrays deeper than {MAX_ARRAY_DEPTH}"
                    )));
                }
                let item_kind = self.u32(&what)?;
                let count = self.u64(&what)?;
                // Every element takes at least one byte (a string at least eight): a count the
                // rest of the file cannot hold is refused before the vector is reserved.
                let min_size = match item_kind {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    _ => 8,
                };
                if count > self.remaining() / min_size {
                    return Err(GgufError::Truncated {
                        what,
                        offset: self.at as u64,
                        needed: count.saturating_mul(min_size),
                        len: self.bytes.len() as u64,
                    });
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(item_kind, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            other => {
                return Err(GgufError::Malformed(format!(
                    "{what} has value type {other}, which GGUF does not define"
                )))
            }
        })
    }
}

/// Writes GGUF v3 files: what the tests use to make small models (and corrupt ones).
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value, u32)>,
    tensors: Vec<(String, Vec<u64>, TensorType, Vec<u8>)>,
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a u32 metadata value.
    pub fn u32(&mut self, key: &str, value: u32) -> &mut Self {
        self.metadata
            .push((key.to_owned(), Value::U64(u64::from(value)), 4));
        self
    }

    /// Adds an f32 metadata value.
    pub fn f32(&mut self, key: &str, value: f32) -> &mut Self {
        self.metadata
            .push((key.to_owned(), Value::F64(f64::from(value)), 6));
        self
    }

    /// Adds a boolean metadata value.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.metadata.push((key.to_owned(), Value::Bool(value), 7));
        self
    }

    /// Adds a string metadata value.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.metadata
            .push((key.to_owned(), Value::String(value.to_owned()), 8));
        self
    }

    /// Adds an array of strings.
    pub fn strings(&mut self, key: &str, values: &[String]) -> &mut Self {
        let items = values.iter().cloned().map(Value::String).collect();
        self.metadata.push((key.to_owned(), Value::Array(items), 9));
        self
    }

    /// Adds an array of i32.
    pub fn i32s(&mut self, key: &str, values: &[i32]) -> &mut Self {
        let items = values.iter().map(|&v| Value::I64(i64::from(v))).collect();
        self.metadata.push((key.to_owned(), Value::Array(items), 9));
        self
    }

    /// Adds a tensor: `dims` fastest first, `data` already in the type's block encoding.
    pub fn tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        kind: TensorType,
        data: Vec<u8>,
    ) -> &mut Self {
        self.tensors
            .push((name.to_owned(), dims.to_vec(), kind, data));
        self
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value, kind) in &self.metadata {
            write_string(&mut out, key);
            out.extend_from_slice(&kind.to_le_bytes());
            write_value(&mut out, value);
        }
        let align = DEFAULT_ALIGNMENT as usize;
        let mut offset = 0usize;
        let mut offsets = Vec::new();
        for (name, dims, kind, data) in &self.tensors {
            write_string(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&kind.ggml_id().to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len()).div_ceil(align) * align;
        }
        let data_start = out.len().div_ceil(align) * align;
        out.resize(data_start, 0);
        for ((_, _, _, data), offset) in self.tensors.iter().zip(offsets) {
            out.resize(data_start + offset, 0);
            out.extend_from_slice(data);
        }
        out
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U64(v) => out.extend_from_slice(&(*v as u32).to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&(*v as i32).to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&(*v as f32).to_le_bytes()),
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            let kind: u32 = match items.first() {
                Some(Value::String(_)) | None => 8,
                Some(Value::I64(_)) => 5,
                Some(Value::U64(_)) => 4,
                Some(Value::F64(_)) => 6,
                Some(Value::Bool(_)) => 7,
                Some(Value::Array(_)) => 9,
            };
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                write_value(out, item);
            }
        }
    }
}
