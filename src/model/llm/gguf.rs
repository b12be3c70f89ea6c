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
//! [`GgufError`] naming what was wrong, never a panic or a huge allocation. [`GgufFile::open`]
//! goes further: it refuses a file past [`MAX_FILE_BYTES`] by its size on disk, reads the 24-byte
//! header and refuses a wrong magic or version before anything else, then reads the metadata and
//! the tensor table as it parses them (each string and array checked against the file's size
//! first) and the tensor data only once the table has been checked — a multi-gigabyte file of
//! noise is refused after reading a few bytes of it. `docs/inputs.md` lists every check and its
//! message.
//!
//! [`GgufWriter`] writes the same format: the tests build small random-weight models with it,
//! and corrupt ones.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use thiserror::Error;

/// "GGUF" read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
/// Bytes of the fixed header: magic, version, tensor count, metadata count.
pub const HEADER_BYTES: usize = 24;
/// The data section's alignment when the file does not say.
const DEFAULT_ALIGNMENT: u64 = 32;
/// The largest `general.alignment` taken (llama.cpp writes 32).
pub const MAX_ALIGNMENT: u64 = 1 << 16;
/// More dimensions than any ggml tensor has.
pub const MAX_DIMS: u32 = 4;
/// Elements in one tensor: 2^36 (a 64 GB f8 tensor) is past anything Gaze could run; a larger
/// claim is a corrupt file, refused before any arithmetic can overflow.
pub const MAX_ELEMENTS: u64 = 1 << 36;
/// Nesting of metadata arrays (arrays of arrays): real files use one level.
pub const MAX_ARRAY_DEPTH: u32 = 4;
/// The longest metadata key or tensor name, in bytes (GGUF's own limit for keys; llama.cpp's
/// tensor names are at most 64).
pub const MAX_NAME_BYTES: u64 = 65_535;
/// Metadata values in all, array elements counted one by one. Each becomes a [`Value`] of 32
/// bytes however small it is in the file, so the count is capped, not only checked against the
/// file's size: a 4 MB array of `u8` would otherwise ask for 128 MB. The largest real files
/// (a 256k vocabulary with its scores and types) hold under a million.
pub const MAX_METADATA_VALUES: u64 = 1 << 22;
/// The largest file [`GgufFile::open`] reads: 16 GiB, more than any model Gaze could run on one
/// GPU. A larger file is refused by its size on disk, before any of it is read.
pub const MAX_FILE_BYTES: u64 = 16 << 30;
/// How much [`GgufFile::open`] reads at a time while it parses the metadata and tensor table.
const READ_CHUNK: u64 = 1 << 20;
/// Longest piece of file text (a key, a name) quoted in a message.
const MAX_QUOTED_CHARS: usize = 80;

/// What can be wrong with a GGUF file. Every message is one line and names the file's part at
/// fault; names and keys from the file are quoted escaped and cut short (see [`quoted`]).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GgufError {
    /// Nothing in the file at all.
    #[error("the file is empty (0 bytes), not a GGUF model")]
    Empty,
    /// Not a GGUF file at all.
    #[error(
        "this is not a GGUF file: it starts with \"{start}\", not \"GGUF\"{hint}",
        start = quoted_bytes(.found),
        hint = magic_hint(.found)
    )]
    BadMagic {
        /// The first bytes found (up to 16; the message quotes four).
        found: Vec<u8>,
    },
    /// A version this reader does not know.
    #[error("this GGUF file is version {0}; Gaze reads versions 2 and 3{hint}", hint = version_hint(*.0))]
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
    /// A count the file claims (entries, tensors, array elements) that its bytes cannot hold or
    /// that is past a limit: refused before anything is reserved for it.
    #[error("the GGUF file's {what} claims {count} {items}, but {why}")]
    TooMany {
        /// What claims it: `header`, ``metadata `tokenizer.ggml.tokens` ``.
        what: String,
        /// The count claimed.
        count: u64,
        /// What is counted: `metadata entries`, `strings`.
        items: String,
        /// Why it cannot be.
        why: String,
    },
    /// The same metadata key or tensor name twice.
    #[error("the GGUF file has two {what}s named `{name}`", name = quoted(.name))]
    Duplicate {
        /// `metadata key` or `tensor`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A tensor with no values, or more than [`MAX_ELEMENTS`].
    #[error(
        "the GGUF file's tensor {name} has dimensions {dims:?}: {why}",
        name = quoted(.name)
    )]
    BadDimensions {
        /// Tensor name.
        name: String,
        /// Its dimensions as the file says.
        dims: Vec<u64>,
        /// What is wrong with them.
        why: String,
    },
    /// A metadata value or tensor entry that makes no sense.
    #[error("the GGUF file is malformed: {0}")]
    Malformed(String),
    /// A tensor whose data does not lie inside the file.
    #[error(
        "the GGUF file's tensor {name} claims bytes {start}..{end}, past the file's end ({len} bytes): was it cut short?",
        name = quoted(.name)
    )]
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
    #[error(
        "this file's tensor {name} is {kind}, which Gaze does not read yet (it reads F32, F16, Q8_0, Q4_0 and Q4_1)",
        name = quoted(.name)
    )]
    UnsupportedTensorType {
        /// Tensor name.
        name: String,
        /// The ggml type's name, e.g. `Q5_K`.
        kind: String,
    },
    /// A metadata key the model needs is absent or of the wrong type.
    #[error("the GGUF file has no usable `{key}` ({why})", key = quoted(.key))]
    MissingKey {
        /// The key.
        key: String,
        /// What was wrong.
        why: String,
    },
    /// A tensor the model needs is absent.
    #[error("the GGUF file has no tensor `{name}`", name = quoted(.0))]
    MissingTensor(String),
}

/// `text` as a message quotes it: on one line (newlines, tabs and other control characters
/// escaped as `\n`, `\u{1b}`) and at most 80 characters, then `…`. File text reaches messages
/// only through this, so a hostile key cannot break a message into lines or flood a terminal.
pub fn quoted(text: &str) -> String {
    one_line(text, MAX_QUOTED_CHARS)
}

/// `text` with control characters escaped, cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The first four bytes of `found`, printable ASCII as itself and the rest as `\xNN`.
fn quoted_bytes(found: &[u8]) -> String {
    found
        .iter()
        .take(4)
        .copied()
        .flat_map(std::ascii::escape_default)
        .map(char::from)
        .collect()
}

/// What a file that is not GGUF may be instead, from its first bytes (empty when unknown).
fn magic_hint(found: &[u8]) -> &'static str {
    let starts = |prefix: &[u8]| found.starts_with(prefix);
    let first_visible = found.iter().copied().find(|b| !b.is_ascii_whitespace());
    if starts(b"version ") {
        " (it looks like a Git LFS pointer, not the model itself: fetch the file with `git lfs pull`)"
    } else if first_visible == Some(b'<') {
        " (it looks like a web page: the download may have saved an error page)"
    } else if starts(b"PK\x03\x04") {
        " (it is a zip archive, such as a PyTorch checkpoint: convert the model to GGUF with llama.cpp's convert_hf_to_gguf.py)"
    } else if found.get(8) == Some(&b'{') && found.get(4..8) == Some(&[0, 0, 0, 0]) {
        " (it looks like a safetensors file: convert the model to GGUF with llama.cpp's convert_hf_to_gguf.py)"
    } else if first_visible == Some(b'{') || first_visible == Some(b'[') {
        " (it looks like JSON text, such as a model's config, not the model)"
    } else if starts(b"lmgg") || starts(b"fmgg") || starts(b"tjgg") || starts(b"algg") {
        " (it is a ggml file from before GGUF: convert the model again with a current llama.cpp)"
    } else {
        ""
    }
}

/// Why a version is not read, when there is more to say than its number.
fn version_hint(version: u32) -> &'static str {
    if version == 1 {
        " (version 1 is the format of mid-2023, with 32-bit counts: convert the model again with a current llama.cpp)"
    } else if matches!(version.swap_bytes(), 2 | 3) {
        " (it looks like a big-endian file; Gaze reads little-endian GGUF)"
    } else {
        ""
    }
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
    /// Number of values (`u64::MAX` for dimensions whose product overflows, which a parsed
    /// tensor never has).
    pub fn elements(&self) -> u64 {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
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

/// The header, the metadata and the tensor table, checked against the file's length: all of a
/// [`GgufFile`] but its bytes.
struct Table {
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    /// One past the last byte the file uses: the end of its last tensor (or of the table).
    data_end: usize,
}

impl Table {
    /// The file, holding its first `data_end` bytes of `bytes`.
    fn with_bytes(self, mut bytes: Vec<u8>) -> GgufFile {
        bytes.truncate(self.data_end);
        GgufFile {
            version: self.version,
            metadata: self.metadata,
            tensors: self.tensors,
            bytes,
        }
    }
}

impl GgufFile {
    /// The SHA-256 of the whole file's bytes, as 64 lowercase hex digits: how a scene names the
    /// model it was made with.
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(&self.bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Parses `bytes` (a whole file). The tensor table is checked: every tensor's type is one
    /// Gaze reads, its size matches its dimensions, and its bytes lie inside the file.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, GgufError> {
        let mut reader = Reader::new(bytes, None);
        let table = read_table(&mut reader)?;
        Ok(table.with_bytes(reader.buf))
    }

    /// Reads and parses the file at `path`, reading no more than it must to refuse a bad one:
    /// a file over [`MAX_FILE_BYTES`] is refused by its size on disk; the 24-byte header is read
    /// and checked (magic, version, counts against the size) before anything else; the
    /// metadata and the tensor table are read as they are parsed; the tensor data only once
    /// every tensor has been checked to lie inside the file, and only through the last one's
    /// end (bytes after it, which no tensor claims, are never read).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &std::path::Path) -> Result<Self, GgufOpenError> {
        // On one line however it is spelt (a name may hold a newline), and never cut.
        let name = one_line(&path.display().to_string(), usize::MAX);
        let io = |reason: String| GgufOpenError::Io {
            path: name.clone(),
            reason,
        };
        let mut file = std::fs::File::open(path).map_err(|e| io(e.to_string()))?;
        let meta = file.metadata().map_err(|e| io(e.to_string()))?;
        if meta.is_dir() {
            return Err(io("it is a folder, not a model file".into()));
        }
        if !meta.is_file() {
            return Err(io(
                "it is not a regular file (a pipe or a device?), and a model is read from one"
                    .into(),
            ));
        }
        let len = meta.len();
        if len > MAX_FILE_BYTES || usize::try_from(len).is_err() {
            return Err(GgufOpenError::TooLarge {
                path: name.clone(),
                len,
            });
        }
        let mut header = Vec::with_capacity(HEADER_BYTES);
        (&mut file)
            .take(HEADER_BYTES as u64)
            .read_to_end(&mut header)
            .map_err(|e| io(e.to_string()))?;
        let mut reader = Reader::new(header, Some((&mut file as &mut dyn Read, len)));
        let table = read_table(&mut reader).and_then(|table| {
            reader.read_through(table.data_end)?;
            Ok(table)
        });
        if let Some(reason) = reader.io_error.take() {
            return Err(io(reason));
        }
        let table = table.map_err(GgufOpenError::Format)?;
        Ok(table.with_bytes(reader.buf))
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

    /// Bytes held: the file through the end of its last tensor. Bytes past that (which no
    /// tensor claims) are not read by [`GgufFile::open`] and are dropped by [`GgufFile::parse`].
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no bytes are held (never, once parsed).
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
            why: format!("{} is not a non-negative integer", value.describe()),
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
            why: format!("{} is not a number", value.describe()),
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
            why: format!("{} is not a string", value.describe()),
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

impl Value {
    /// The value as a message shows it: one line, short (an array by its length).
    fn describe(&self) -> String {
        match self {
            Self::String(s) => format!("the string \"{}\"", quoted(s)),
            Self::Array(items) => format!("an array of {} values", items.len()),
            other => format!("{other:?}"),
        }
    }
}

/// Opening a GGUF file from disk: the I/O error, the size, or the format error.
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
    /// The file is larger than any model Gaze reads (checked before reading it).
    #[error(
        "{path} is {len} bytes, more than the {MAX_FILE_BYTES} bytes (16 GiB, MAX_FILE_BYTES) of the largest model file Gaze reads: is it the right file?"
    )]
    TooLarge {
        /// The path.
        path: String,
        /// Its size on disk.
        len: u64,
    },
    /// The file is not a GGUF file Gaze reads.
    #[error(transparent)]
    Format(GgufError),
}

/// The smallest a metadata entry can be in the file: an empty key (8), its type (4), a u8.
const MIN_METADATA_ENTRY: u64 = 13;
/// The smallest a tensor entry can be: an empty name (8), one dimension (4 + 8), type, offset.
const MIN_TENSOR_ENTRY: u64 = 32;
/// Tensors in one file: real ones have hundreds (a 70B Llama has 723).
pub const MAX_TENSORS: u64 = 1 << 16;
/// Bytes before the tensor data (header, metadata, tensor table): a real file's are a few
/// megabytes (a 150k vocabulary with its merges); past 256 MiB the file is corrupt, and is
/// refused before more of it is read.
pub const MAX_TABLE_BYTES: u64 = 256 << 20;

/// The header, metadata and tensor table, each count and size checked against the file's
/// length before it is used; the tensors checked to lie inside the file.
fn read_table(r: &mut Reader<'_>) -> Result<Table, GgufError> {
    if r.len == 0 {
        return Err(GgufError::Empty);
    }
    let start: Vec<u8> = r.buf.iter().take(16).copied().collect();
    if r.len < 4 {
        return Err(if b"GGUF".starts_with(&start) {
            r.truncated("the magic number", 4)
        } else {
            GgufError::BadMagic { found: start }
        });
    }
    if r.u32("the magic number")? != MAGIC {
        return Err(GgufError::BadMagic { found: start });
    }
    let version = r.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion(version));
    }
    let tensor_count = r.u64("the tensor count")?;
    let metadata_count = r.u64("the metadata count")?;
    // Each metadata entry and each tensor entry takes a few bytes at least: a count the file
    // cannot hold is refused before anything is reserved for it.
    let left = r.remaining();
    let room = left / MIN_METADATA_ENTRY;
    if metadata_count > room {
        return Err(GgufError::TooMany {
            what: "header".into(),
            count: metadata_count,
            items: "metadata entries".into(),
            why: format!(
                "the {left} bytes after the header hold at most {room} (is the file cut short?)"
            ),
        });
    }
    let room = left.saturating_sub(metadata_count * MIN_METADATA_ENTRY) / MIN_TENSOR_ENTRY;
    if tensor_count > room {
        return Err(GgufError::TooMany {
            what: "header".into(),
            count: tensor_count,
            items: "tensors".into(),
            why: format!(
                "the {left} bytes after the header hold at most {room} besides its {metadata_count} metadata entries (is the file cut short?)"
            ),
        });
    }
    if tensor_count > MAX_TENSORS {
        return Err(GgufError::TooMany {
            what: "header".into(),
            count: tensor_count,
            items: "tensors".into(),
            why: format!("Gaze reads files of at most {MAX_TENSORS} (MAX_TENSORS)"),
        });
    }

    let mut metadata = BTreeMap::new();
    for i in 0..metadata_count {
        let key = r.name(&format!("metadata entry {i}'s key"))?;
        let what = format!("metadata `{}`", quoted(&key));
        let kind = r.u32(&what)?;
        r.count_values(1, &what, "values")?;
        let value = r.value(kind, &what, 0)?;
        if metadata.contains_key(&key) {
            return Err(GgufError::Duplicate {
                what: "metadata key",
                name: key,
            });
        }
        metadata.insert(key, value);
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(value) => match value.as_u64() {
            Some(a) if a.is_power_of_two() && a <= MAX_ALIGNMENT => a,
            _ => {
                return Err(GgufError::Malformed(format!(
                    "general.alignment is {}; it must be a power of two from 1 to {MAX_ALIGNMENT}",
                    value.describe()
                )))
            }
        },
    };

    // Entries are pushed as they are read (never reserved by the claimed count): each one is
    // at least 32 bytes of the file, and there are at most MAX_TENSORS.
    let mut entries = Vec::new();
    let mut names = BTreeSet::new();
    for i in 0..tensor_count {
        let name = r.name(&format!("tensor entry {i}'s name"))?;
        let what = format!("tensor {}", quoted(&name));
        let n_dims = r.u32(&format!("{what}'s dimension count"))?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(GgufError::Malformed(format!(
                "{what} has {n_dims} dimensions (1 to {MAX_DIMS} expected)"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64(&format!("{what}'s dimensions"))?);
        }
        let kind = r.u32(&format!("{what}'s type"))?;
        let offset = r.u64(&format!("{what}'s offset"))?;
        if !names.insert(name.clone()) {
            return Err(GgufError::Duplicate {
                what: "tensor",
                name,
            });
        }
        entries.push((name, dims, kind, offset));
    }

    // `at` and `alignment` are both far below 2^63: no overflow.
    let data_start = (r.at as u64).div_ceil(alignment) * alignment;
    let len = r.len;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, dims, kind, offset) in entries {
        tensors.push(check_tensor(
            name, dims, kind, offset, data_start, alignment, len,
        )?);
    }
    // Every end is at most `len`, which fits a usize.
    let data_end = tensors
        .iter()
        .map(|t| t.start.saturating_add(t.len))
        .fold(r.at, usize::max);
    Ok(Table {
        version,
        metadata,
        tensors,
        data_end,
    })
}

/// One tensor entry checked: its dimensions, its type, its size, its alignment, and that its
/// bytes lie inside the file's `len`.
fn check_tensor(
    name: String,
    dims: Vec<u64>,
    kind: u32,
    offset: u64,
    data_start: u64,
    alignment: u64,
    len: u64,
) -> Result<TensorInfo, GgufError> {
    let elements = match dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)) {
        Some(0) => Err("a tensor with no values".to_owned()),
        Some(e) if e <= MAX_ELEMENTS => Ok(e),
        Some(e) => Err(format!(
            "{e} values, more than the 2^36 (MAX_ELEMENTS) Gaze reads"
        )),
        None => Err("more values than a 64-bit count holds".to_owned()),
    };
    let elements = match elements {
        Ok(e) => e,
        Err(why) => return Err(GgufError::BadDimensions { name, dims, why }),
    };
    let kind = match TensorType::from_ggml_id(kind) {
        Ok(kind) => kind,
        Err(kind) => return Err(GgufError::UnsupportedTensorType { name, kind }),
    };
    let first_dim = dims.first().copied().unwrap_or(0);
    let Some(size) = kind
        .bytes_for(elements)
        .filter(|_| first_dim.is_multiple_of(kind.block_len()))
    else {
        return Err(GgufError::BadDimensions {
            why: format!(
                "its rows do not fill whole {}-value blocks of {}",
                kind.block_len(),
                kind.name()
            ),
            name,
            dims,
        });
    };
    if !offset.is_multiple_of(alignment) {
        return Err(GgufError::Malformed(format!(
            "tensor {}'s offset {offset} is not a multiple of the alignment {alignment}",
            quoted(&name)
        )));
    }
    let start = data_start.checked_add(offset);
    let end = start.and_then(|s| s.checked_add(size));
    let (Some(start), Some(end)) = (start, end) else {
        return Err(GgufError::TensorOutOfBounds {
            name,
            start: data_start.saturating_add(offset),
            end: u64::MAX,
            len,
        });
    };
    if end > len {
        return Err(GgufError::TensorOutOfBounds {
            name,
            start,
            end,
            len,
        });
    }
    // `end <= len`, and `len` is the length of a slice or was checked to fit a usize.
    let (Ok(start), Ok(size)) = (usize::try_from(start), usize::try_from(size)) else {
        return Err(GgufError::TensorOutOfBounds {
            name,
            start,
            end,
            len,
        });
    };
    Ok(TensorInfo {
        name,
        dims,
        kind,
        start,
        len: size,
    })
}

/// GGUF's name for a metadata value type, as a message counts them.
fn value_type_items(kind: u32) -> String {
    let name = match kind {
        0 => "u8",
        1 => "i8",
        2 => "u16",
        3 => "i16",
        4 => "u32",
        5 => "i32",
        6 => "f32",
        7 => "bool",
        8 => return "strings".into(),
        9 => return "arrays".into(),
        10 => "u64",
        11 => "i64",
        12 => "f64",
        _ => "unknown",
    };
    format!("{name} values")
}

/// The smallest one value of GGUF type `kind` can be in the file.
fn min_value_bytes(kind: u32) -> u64 {
    match kind {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        9 => 12,
        _ => 8,
    }
}

/// A cursor over the file's bytes; every read is checked against the file's length first.
///
/// The bytes are `buf`: the whole file for [`GgufFile::parse`]; for [`GgufFile::open`], the
/// part read so far, with the rest read from `source` as the parse reaches it, in chunks of at
/// most [`READ_CHUNK`] past what it needs.
struct Reader<'a> {
    buf: Vec<u8>,
    at: usize,
    /// The file's whole length (`buf.len()` once all of it is read).
    len: u64,
    source: Option<&'a mut dyn Read>,
    /// Why reading from `source` failed (the parse then fails too; `open` reports this).
    io_error: Option<String>,
    /// Metadata values read so far, array elements counted one by one.
    values: u64,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, the whole file, or over `buf` then the rest of `source`, of `len`
    /// bytes in all.
    fn new(buf: Vec<u8>, source: Option<(&'a mut dyn Read, u64)>) -> Self {
        let (source, len) = match source {
            Some((source, len)) => (Some(source), len),
            None => (None, buf.len() as u64),
        };
        Self {
            buf,
            at: 0,
            len,
            source,
            io_error: None,
            values: 0,
        }
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.at as u64)
    }

    fn truncated(&self, what: &str, needed: u64) -> GgufError {
        GgufError::Truncated {
            what: what.to_owned(),
            offset: self.at as u64,
            needed,
            len: self.len,
        }
    }

    /// Makes `buf` hold the file's first `upto` bytes (`upto <= len`), reading from the source;
    /// false, with `io_error` set, when it cannot.
    fn fill(&mut self, upto: usize) -> bool {
        let have = self.buf.len();
        if have >= upto {
            return true;
        }
        let Some(source) = self.source.as_mut() else {
            return false;
        };
        let left = self.len.saturating_sub(have as u64);
        let want = ((upto - have) as u64).max(READ_CHUNK).min(left) as usize;
        if self.buf.try_reserve_exact(want).is_err() {
            self.io_error = Some(format!(
                "there is not enough memory to read {} bytes of it",
                have as u64 + want as u64
            ));
            return false;
        }
        self.buf.resize(have + want, 0);
        let read = match self.buf.get_mut(have..) {
            Some(rest) => source.read_exact(rest),
            None => Ok(()),
        };
        match read {
            Ok(()) => true,
            Err(e) => {
                self.buf.truncate(have);
                self.io_error = Some(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    format!(
                        "it ended after {} bytes, but its size said {} (did it change while it was read?)",
                        have, self.len
                    )
                } else {
                    e.to_string()
                });
                false
            }
        }
    }

    /// Reads the file through byte `end` (`<= len`): the tensor data.
    #[cfg(not(target_arch = "wasm32"))]
    fn read_through(&mut self, end: usize) -> Result<(), GgufError> {
        if self.fill(end) {
            Ok(())
        } else {
            Err(self.truncated("the tensor data", self.len.saturating_sub(self.at as u64)))
        }
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&[u8], GgufError> {
        if n > self.remaining() {
            return Err(self.truncated(what, n));
        }
        // `n <= len - at`, and `len` fits a usize.
        let end = self.at + n as usize;
        if end as u64 > MAX_TABLE_BYTES {
            return Err(GgufError::Malformed(format!(
                "{what} at offset {} runs the metadata and tensor table past {MAX_TABLE_BYTES} bytes (256 MiB, MAX_TABLE_BYTES), far more than any model's",
                self.at
            )));
        }
        if !self.fill(end) {
            return Err(self.truncated(what, n));
        }
        let at = self.at;
        self.at = end;
        self.buf
            .get(at..end)
            .ok_or_else(|| GgufError::Malformed(format!("{what}: a read past the buffer")))
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
        self.string_bytes(len, what)
    }

    /// A key or tensor name: a string of at most [`MAX_NAME_BYTES`].
    fn name(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        if len > MAX_NAME_BYTES {
            return Err(GgufError::Malformed(format!(
                "{what} at offset {} is {len} bytes long; keys and tensor names are at most {MAX_NAME_BYTES}",
                self.at - 8
            )));
        }
        self.string_bytes(len, what)
    }

    fn string_bytes(&mut self, len: u64, what: &str) -> Result<String, GgufError> {
        let at = self.at;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            GgufError::Malformed(format!(
                "{what} (the {len}-byte string at offset {at}) is not UTF-8 text"
            ))
        })
    }

    /// Counts `count` more metadata values, refusing past [`MAX_METADATA_VALUES`].
    fn count_values(&mut self, count: u64, what: &str, items: &str) -> Result<(), GgufError> {
        let total = self.values.saturating_add(count);
        if total > MAX_METADATA_VALUES {
            return Err(GgufError::TooMany {
                what: what.to_owned(),
                count,
                items: items.to_owned(),
                why: format!(
                    "Gaze reads at most {MAX_METADATA_VALUES} metadata values in all (MAX_METADATA_VALUES)"
                ),
            });
        }
        self.values = total;
        Ok(())
    }

    /// One metadata value of GGUF type `kind` (0 u8 … 12 f64), `what` naming its key.
    fn value(&mut self, kind: u32, what: &str, depth: u32) -> Result<Value, GgufError> {
        Ok(match kind {
            0 => Value::U64(u64::from(u8::from_le_bytes(self.array(what)?))),
            1 => Value::I64(i64::from(i8::from_le_bytes(self.array(what)?))),
            2 => Value::U64(u64::from(u16::from_le_bytes(self.array(what)?))),
            3 => Value::I64(i64::from(i16::from_le_bytes(self.array(what)?))),
            4 => Value::U64(u64::from(self.u32(what)?)),
            5 => Value::I64(i64::from(i32::from_le_bytes(self.array(what)?))),
            6 => Value::F64(f64::from(f32::from_le_bytes(self.array(what)?))),
            7 => match u8::from_le_bytes(self.array(what)?) {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(GgufError::Malformed(format!(
                        "{what} is a boolean of value {b} (0 or 1 expected)"
                    )))
                }
            },
            8 => Value::String(self.string(what)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::Malformed(format!(
                        "{what} nests arrays deeper than {MAX_ARRAY_DEPTH}"
                    )));
                }
                let item_kind = self.u32(what)?;
                if item_kind > 12 {
                    return Err(GgufError::Malformed(format!(
                        "{what} is an array of value type {item_kind}, which GGUF does not define"
                    )));
                }
                let count = self.u64(what)?;
                let items = value_type_items(item_kind);
                // Every element takes at least one byte (a string at least eight): a count the
                // rest of the file cannot hold is refused before the vector is reserved.
                let left = self.remaining();
                let room = left / min_value_bytes(item_kind);
                if count > room {
                    return Err(GgufError::TooMany {
                        what: what.to_owned(),
                        count,
                        items,
                        why: format!(
                            "the {left} bytes left in the file hold at most {room} (is the file cut short?)"
                        ),
                    });
                }
                self.count_values(count, what, &items)?;
                // `count <= MAX_METADATA_VALUES`.
                let mut values = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    values.push(self.value(item_kind, what, depth + 1)?);
                }
                Value::Array(values)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            other => {
                return Err(GgufError::Malformed(format!(
                    "{what} has value type {other}, which GGUF does not define"
                )))
            }
        })
    }
}

/// Writes GGUF files (version 3 unless told): what the tests use to make small models, and
/// corrupt ones. The data section is aligned to `general.alignment` when the metadata sets it
/// (with [`GgufWriter::u32`]), else to 32.
#[derive(Debug)]
pub struct GgufWriter {
    version: u32,
    /// Key, GGUF value type, value; an array's element type is the fourth field.
    metadata: Vec<(String, u32, Value, u32)>,
    /// Name, dims, ggml type id, data.
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the version written in the header (2 and 3 lay out the same; others are for
    /// testing the reader's refusal).
    pub fn version(&mut self, version: u32) -> &mut Self {
        self.version = version;
        self
    }

    /// Adds a value of GGUF type `kind` (0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
    /// 8 string, 10 u64, 11 i64, 12 f64), `value` converted to it (wrapping, as `as` does). An
    /// array (9) takes its element type from its first element: strings 8, `I64` i32,
    /// `U64` u32, `F64` f32, `Bool` bool, arrays 9 (see [`GgufWriter::array`] for others).
    pub fn value(&mut self, key: &str, kind: u32, value: Value) -> &mut Self {
        let item_kind = match &value {
            Value::Array(items) => inferred_kind(items.first()),
            _ => 0,
        };
        self.metadata.push((key.to_owned(), kind, value, item_kind));
        self
    }

    /// Adds an array whose elements have GGUF type `item_kind` (nested arrays infer theirs as
    /// [`GgufWriter::value`] does).
    pub fn array(&mut self, key: &str, item_kind: u32, items: Vec<Value>) -> &mut Self {
        self.metadata
            .push((key.to_owned(), 9, Value::Array(items), item_kind));
        self
    }

    /// Adds a u32 metadata value.
    pub fn u32(&mut self, key: &str, value: u32) -> &mut Self {
        self.value(key, 4, Value::U64(u64::from(value)))
    }

    /// Adds an f32 metadata value.
    pub fn f32(&mut self, key: &str, value: f32) -> &mut Self {
        self.value(key, 6, Value::F64(f64::from(value)))
    }

    /// Adds a boolean metadata value.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.value(key, 7, Value::Bool(value))
    }

    /// Adds a string metadata value.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.value(key, 8, Value::String(value.to_owned()))
    }

    /// Adds an array of strings.
    pub fn strings(&mut self, key: &str, values: &[String]) -> &mut Self {
        let items = values.iter().cloned().map(Value::String).collect();
        self.array(key, 8, items)
    }

    /// Adds an array of i32.
    pub fn i32s(&mut self, key: &str, values: &[i32]) -> &mut Self {
        let items = values.iter().map(|&v| Value::I64(i64::from(v))).collect();
        self.array(key, 5, items)
    }

    /// Adds a tensor: `dims` fastest first, `data` already in the type's block encoding.
    pub fn tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        kind: TensorType,
        data: Vec<u8>,
    ) -> &mut Self {
        self.raw_tensor(name, dims, kind.ggml_id(), data)
    }

    /// Adds a tensor of any ggml type id, `data` written as given (no check of its size): for
    /// files of types Gaze does not read, and corrupt ones.
    pub fn raw_tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: u32,
        data: Vec<u8>,
    ) -> &mut Self {
        self.tensors
            .push((name.to_owned(), dims.to_vec(), ggml_type, data));
        self
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self
            .metadata
            .iter()
            .find(|(key, ..)| key == "general.alignment")
            .and_then(|(_, _, value, _)| value.as_u64())
            .filter(|a| a.is_power_of_two() && *a <= MAX_ALIGNMENT)
            .unwrap_or(DEFAULT_ALIGNMENT) as usize;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, kind, value, item_kind) in &self.metadata {
            write_string(&mut out, key);
            out.extend_from_slice(&kind.to_le_bytes());
            if let Value::Array(items) = value {
                write_array(&mut out, *item_kind, items);
            } else {
                write_value(&mut out, *kind, value);
            }
        }
        let mut offset = 0usize;
        let mut offsets = Vec::new();
        for (name, dims, kind, data) in &self.tensors {
            write_string(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&kind.to_le_bytes());
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

/// The GGUF type [`GgufWriter::value`] writes an array element of as.
fn inferred_kind(item: Option<&Value>) -> u32 {
    match item {
        Some(Value::String(_)) | None => 8,
        Some(Value::I64(_)) => 5,
        Some(Value::U64(_)) => 4,
        Some(Value::F64(_)) => 6,
        Some(Value::Bool(_)) => 7,
        Some(Value::Array(_)) => 9,
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// An array's element type, count and elements.
fn write_array(out: &mut Vec<u8>, item_kind: u32, items: &[Value]) {
    out.extend_from_slice(&item_kind.to_le_bytes());
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for item in items {
        write_value(out, item_kind, item);
    }
}

/// `value` as GGUF type `kind`.
fn write_value(out: &mut Vec<u8>, kind: u32, value: &Value) {
    let int = match *value {
        Value::U64(v) => v,
        Value::I64(v) => v as u64,
        Value::F64(v) => v as i64 as u64,
        Value::Bool(b) => u64::from(b),
        Value::String(_) | Value::Array(_) => 0,
    };
    let float = value.as_f64().unwrap_or(0.0);
    match (kind, value) {
        (8, Value::String(s)) => write_string(out, s),
        (8, _) => write_string(out, ""),
        (9, Value::Array(items)) => write_array(out, inferred_kind(items.first()), items),
        (9, _) => write_array(out, 8, &[]),
        (0 | 1 | 7, _) => out.push(int as u8),
        (2 | 3, _) => out.extend_from_slice(&(int as u16).to_le_bytes()),
        (4 | 5, _) => out.extend_from_slice(&(int as u32).to_le_bytes()),
        (6, _) => out.extend_from_slice(&(float as f32).to_le_bytes()),
        (12, _) => out.extend_from_slice(&float.to_le_bytes()),
        _ => out.extend_from_slice(&int.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer holding one small F32 tensor, the least a file needs to be useful.
    fn one_tensor() -> GgufWriter {
        let mut w = GgufWriter::new();
        w.tensor("t", &[32], TensorType::F32, vec![0; 128]);
        w
    }

    fn parse_err(bytes: Vec<u8>) -> GgufError {
        GgufFile::parse(bytes).expect_err("the reader accepted a bad file")
    }

    /// Where `one_tensor()`'s single tensor entry ends (its u64 offset is the last field).
    const ONE_TENSOR_ENTRY_END: usize = HEADER_BYTES + 8 + 1 + 4 + 8 + 4 + 8;

    #[test]
    fn every_value_type_round_trips_through_the_writer() {
        let scalars = [
            (0, Value::U64(200)),
            (1, Value::I64(-100)),
            (2, Value::U64(60_000)),
            (3, Value::I64(-30_000)),
            (4, Value::U64(4_000_000_000)),
            (5, Value::I64(-2_000_000_000)),
            (6, Value::F64(1.5)),
            (7, Value::Bool(true)),
            (8, Value::String("héllo\nworld".into())),
            (10, Value::U64(u64::MAX)),
            (11, Value::I64(i64::MIN)),
            (12, Value::F64(std::f64::consts::PI)),
        ];
        let mut w = one_tensor();
        for (kind, value) in &scalars {
            w.value(&format!("scalar.{kind}"), *kind, value.clone());
            w.array(&format!("array.{kind}"), *kind, vec![value.clone(); 3]);
        }
        let inner = vec![
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            Value::Array(vec![]),
        ];
        w.array("array.nested", 9, inner.clone());
        w.array("array.empty", 4, vec![]);
        let file = GgufFile::parse(w.to_bytes()).unwrap();
        assert_eq!(file.version, 3);
        for (kind, value) in &scalars {
            assert_eq!(
                file.get(&format!("scalar.{kind}")),
                Some(value),
                "type {kind}"
            );
            assert_eq!(
                file.get(&format!("array.{kind}")),
                Some(&Value::Array(vec![value.clone(); 3])),
                "array of type {kind}"
            );
        }
        assert_eq!(file.get("array.nested"), Some(&Value::Array(inner)));
        assert_eq!(file.get("array.empty"), Some(&Value::Array(vec![])));
        assert_eq!(file.metadata.len(), 2 * scalars.len() + 2);
        let t = file.tensor("t").unwrap();
        assert_eq!(
            (t.dims.as_slice(), t.kind, t.len),
            (&[32][..], TensorType::F32, 128)
        );
        assert_eq!(file.tensor_bytes(t).len(), 128);
    }

    #[test]
    fn tensors_of_every_type_round_trip_with_their_bytes() {
        let kinds = [
            TensorType::F32,
            TensorType::F16,
            TensorType::Q8_0,
            TensorType::Q4_0,
            TensorType::Q4_1,
        ];
        let mut w = GgufWriter::new();
        for (i, kind) in kinds.iter().enumerate() {
            let len = kind.bytes_for(64).unwrap() as usize;
            let data: Vec<u8> = (0..len).map(|b| (b + i) as u8).collect();
            w.tensor(kind.name(), &[32, 2], *kind, data);
        }
        let file = GgufFile::parse(w.to_bytes()).unwrap();
        for (i, kind) in kinds.iter().enumerate() {
            let t = file.tensor(kind.name()).unwrap();
            assert_eq!(t.kind, *kind);
            assert_eq!(t.elements(), 64);
            assert_eq!(t.start % 32, 0, "{} is aligned", t.name);
            let bytes = file.tensor_bytes(t);
            assert_eq!(bytes.len(), t.len);
            assert!(bytes.iter().enumerate().all(|(b, &v)| v == (b + i) as u8));
        }
    }

    #[test]
    fn version_2_files_are_read() {
        let file = GgufFile::parse(one_tensor().version(2).to_bytes()).unwrap();
        assert_eq!(file.version, 2);
        assert_eq!(file.tensors.len(), 1);
    }

    #[test]
    fn versions_1_and_4_are_refused_by_number() {
        for version in [0, 1, 4, 0x0300_0000] {
            let err = parse_err(one_tensor().version(version).to_bytes());
            assert_eq!(err, GgufError::UnsupportedVersion(version));
            let message = err.to_string();
            assert!(
                message.contains(&format!("version {version};")),
                "{message}"
            );
            assert!(!message.contains('\n'));
        }
        assert!(GgufError::UnsupportedVersion(1)
            .to_string()
            .contains("convert the model again"));
        assert!(GgufError::UnsupportedVersion(0x0300_0000)
            .to_string()
            .contains("big-endian"));
    }

    #[test]
    fn the_data_section_follows_general_alignment() {
        for align in [1u32, 8, 64, 4096] {
            let mut w = GgufWriter::new();
            w.u32("general.alignment", align);
            w.tensor("a", &[32], TensorType::F16, vec![1; 64]);
            w.tensor("b", &[32], TensorType::F32, vec![2; 128]);
            let file = GgufFile::parse(w.to_bytes()).unwrap();
            for t in &file.tensors {
                assert_eq!(t.start % align as usize, 0, "{} at {}", t.name, t.start);
            }
            let b = file.tensor("b").unwrap();
            assert!(file.tensor_bytes(b).iter().all(|&v| v == 2));
        }
    }

    #[test]
    fn an_alignment_that_is_not_a_power_of_two_up_to_65536_is_refused() {
        for align in [0u32, 3, 48, 1 << 17] {
            let mut w = one_tensor();
            w.u32("general.alignment", align);
            let err = parse_err(w.to_bytes());
            assert!(matches!(err, GgufError::Malformed(_)), "{err:?}");
            assert!(
                err.to_string().contains("general.alignment is U64("),
                "{err}"
            );
        }
        let mut w = one_tensor();
        w.string("general.alignment", "32");
        assert!(parse_err(w.to_bytes())
            .to_string()
            .contains("the string \"32\""));
    }

    #[test]
    fn a_tensor_offset_off_the_alignment_is_refused() {
        let mut bytes = one_tensor().to_bytes();
        bytes[ONE_TENSOR_ENTRY_END - 8] = 4;
        let err = parse_err(bytes);
        assert!(
            err.to_string()
                .contains("offset 4 is not a multiple of the alignment 32"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_and_a_short_one_are_named() {
        assert_eq!(parse_err(Vec::new()), GgufError::Empty);
        assert!(matches!(
            parse_err(b"GG".to_vec()),
            GgufError::Truncated { .. }
        ));
        assert!(matches!(
            parse_err(b"hi\n".to_vec()),
            GgufError::BadMagic { .. }
        ));
        assert!(matches!(
            parse_err(b"GGUF\x03\x00".to_vec()),
            GgufError::Truncated { .. }
        ));
    }

    #[test]
    fn a_wrong_magic_says_what_the_file_looks_like() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"version https://git-lfs.github.com/spec/v1\n",
                "Git LFS pointer",
            ),
            (b"<!DOCTYPE html><html>", "web page"),
            (b"PK\x03\x04\x14\x00\x00\x00", "zip archive"),
            (
                b"\x90\x01\x00\x00\x00\x00\x00\x00{\"__metadata__\"",
                "safetensors",
            ),
            (b"{\"architectures\": [\"LlamaForCausalLM\"]}", "JSON"),
            (b"tjgg\x03\x00\x00\x00", "from before GGUF"),
        ];
        for (bytes, hint) in cases {
            let err = parse_err(bytes.to_vec());
            assert!(matches!(err, GgufError::BadMagic { .. }), "{err:?}");
            let message = err.to_string();
            assert!(message.contains(hint), "{message}");
            assert!(message.contains("not \"GGUF\""), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        let message = parse_err(b"\x7fELF\x02\x01\x01\x00".to_vec()).to_string();
        assert!(message.contains(r#"starts with "\x7fELF""#), "{message}");
    }

    #[test]
    fn a_key_or_tensor_given_twice_is_refused() {
        let mut w = one_tensor();
        w.u32("general.x", 1).u32("general.x", 2);
        assert_eq!(
            parse_err(w.to_bytes()),
            GgufError::Duplicate {
                what: "metadata key",
                name: "general.x".into()
            }
        );
        let mut w = one_tensor();
        w.tensor("t", &[32], TensorType::F32, vec![0; 128]);
        assert_eq!(
            parse_err(w.to_bytes()).to_string(),
            "the GGUF file has two tensors named `t`"
        );
    }

    #[test]
    fn a_name_past_65535_bytes_is_refused_before_it_is_read() {
        let mut w = one_tensor();
        w.u32(&"k".repeat(70_000), 1);
        let err = parse_err(w.to_bytes());
        assert!(
            err.to_string()
                .contains("metadata entry 0's key at offset 24 is 70000 bytes long"),
            "{err}"
        );
    }

    #[test]
    fn an_array_longer_than_the_file_is_refused_before_it_is_reserved() {
        let mut w = one_tensor();
        w.array("tokenizer.ggml.tokens", 8, vec![Value::String("a".into())]);
        let mut bytes = w.to_bytes();
        // key (8 + 21), value type (4), element type (4), then the count.
        let count_at = HEADER_BYTES + 8 + 21 + 4 + 4;
        bytes[count_at..count_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        let err = parse_err(bytes);
        assert!(
            matches!(&err, GgufError::TooMany { count, items, .. } if *count == 1 << 60 && items == "strings"),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(
            "the GGUF file's metadata `tokenizer.ggml.tokens` claims 1152921504606846976 strings, but the "
        ));
    }

    #[test]
    fn more_metadata_values_than_max_metadata_values_are_refused() {
        let mut w = one_tensor();
        w.array("big", 0, vec![Value::U64(0); MAX_METADATA_VALUES as usize]);
        let err = parse_err(w.to_bytes());
        assert!(err.to_string().contains("MAX_METADATA_VALUES"), "{err}");
    }

    #[test]
    fn undefined_value_types_and_deep_arrays_are_refused() {
        let mut w = one_tensor();
        w.value("x", 13, Value::U64(0));
        assert!(parse_err(w.to_bytes())
            .to_string()
            .contains("metadata `x` has value type 13"));
        let mut w = one_tensor();
        w.array("x", 13, vec![]);
        assert!(parse_err(w.to_bytes())
            .to_string()
            .contains("array of value type 13"));
        let mut deep = Value::Array(vec![Value::U64(1)]);
        for _ in 0..MAX_ARRAY_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        let mut w = one_tensor();
        w.value("x", 9, deep);
        assert!(parse_err(w.to_bytes())
            .to_string()
            .contains("nests arrays deeper"));
        let mut w = one_tensor();
        w.value("x", 7, Value::U64(2));
        assert!(parse_err(w.to_bytes())
            .to_string()
            .contains("a boolean of value 2"));
    }

    #[test]
    fn header_counts_past_what_the_file_holds_are_refused() {
        let mut bytes = one_tensor().to_bytes();
        bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = parse_err(bytes);
        assert!(
            matches!(&err, GgufError::TooMany { items, .. } if items == "metadata entries"),
            "{err:?}"
        );
        let mut bytes = one_tensor().to_bytes();
        bytes[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let err = parse_err(bytes);
        assert!(
            matches!(&err, GgufError::TooMany { items, .. } if items == "tensors"),
            "{err:?}"
        );
    }

    #[test]
    fn tensor_dimensions_are_checked_before_any_size_arithmetic() {
        for (dims, why) in [
            (vec![0u64], "no values"),
            (vec![1 << 20, 1 << 20], "more than the 2^36"),
            (vec![u64::MAX, 2], "64-bit count"),
            (vec![30], "whole 32-value blocks of Q8_0"),
        ] {
            let mut w = GgufWriter::new();
            w.tensor("blk.0.attn_q.weight", &dims, TensorType::Q8_0, vec![]);
            let err = parse_err(w.to_bytes());
            assert!(matches!(err, GgufError::BadDimensions { .. }), "{err:?}");
            assert!(err.to_string().contains(why), "{err}");
            assert!(err.to_string().contains("blk.0.attn_q.weight"), "{err}");
        }
        let mut w = GgufWriter::new();
        w.tensor("t", &[1, 1, 1, 1, 1], TensorType::F32, vec![0; 4]);
        assert!(parse_err(w.to_bytes()).to_string().contains("5 dimensions"));
    }

    #[test]
    fn a_tensor_past_the_end_or_at_an_overflowing_offset_is_refused() {
        let mut bytes = one_tensor().to_bytes();
        bytes.truncate(bytes.len() - 1);
        let err = parse_err(bytes);
        assert!(
            matches!(err, GgufError::TensorOutOfBounds { .. }),
            "{err:?}"
        );
        let mut bytes = one_tensor().to_bytes();
        bytes[ONE_TENSOR_ENTRY_END - 8..ONE_TENSOR_ENTRY_END]
            .copy_from_slice(&(u64::MAX - 31).to_le_bytes());
        let err = parse_err(bytes);
        assert!(
            matches!(err, GgufError::TensorOutOfBounds { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn bytes_past_the_last_tensor_are_dropped() {
        let mut bytes = one_tensor().to_bytes();
        let used = bytes.len();
        bytes.extend_from_slice(&[7; 1000]);
        let file = GgufFile::parse(bytes).unwrap();
        assert_eq!(file.len(), used);
        assert_eq!(file.tensor_bytes(&file.tensors[0]).len(), 128);
    }

    #[test]
    fn file_text_in_messages_stays_on_one_short_line() {
        let mut w = GgufWriter::new();
        let name = format!("evil\nname\u{1b}[2J{}", "x".repeat(500));
        w.raw_tensor(&name, &[32], 13, vec![]);
        let message = parse_err(w.to_bytes()).to_string();
        assert!(
            !message.contains('\n') && !message.contains('\u{1b}'),
            "{message}"
        );
        assert!(message.contains(r"evil\nname\u{1b}[2J"), "{message}");
        assert!(message.len() < 300, "{message}");
        assert_eq!(quoted("blk.0.attn_q.weight"), "blk.0.attn_q.weight");
    }

    #[test]
    fn open_reads_a_file_and_refuses_a_folder() {
        let dir = std::env::temp_dir().join(format!("gaze-gguf-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("one.gguf");
        let bytes = one_tensor().to_bytes();
        std::fs::write(&path, &bytes).unwrap();
        let file = GgufFile::open(&path).unwrap();
        assert_eq!(file.len(), bytes.len());
        assert_eq!(file.tensors, GgufFile::parse(bytes).unwrap().tensors);
        let err = GgufFile::open(&dir).unwrap_err();
        assert!(err.to_string().contains("it is a folder"), "{err}");
        let err = GgufFile::open(&dir.join("missing.gguf")).unwrap_err();
        assert!(matches!(err, GgufOpenError::Io { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_streams_a_table_longer_than_one_read_chunk() {
        // Metadata of ~3 MiB: `open` reads it in several chunks and must get the same file.
        let tokens: Vec<String> = (0..300_000).map(|i| format!("token{i}")).collect();
        let mut w = one_tensor();
        w.strings("tokenizer.ggml.tokens", &tokens);
        let bytes = w.to_bytes();
        assert!(bytes.len() as u64 > 2 * READ_CHUNK);
        let dir = std::env::temp_dir().join(format!("gaze-gguf-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.gguf");
        std::fs::write(&path, &bytes).unwrap();
        let opened = GgufFile::open(&path).unwrap();
        let parsed = GgufFile::parse(bytes).unwrap();
        assert_eq!(opened.metadata, parsed.metadata);
        assert_eq!(opened.tensors, parsed.tensors);
        assert_eq!(opened.bytes, parsed.bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_synthetic_model_writes_the_bytes_it_always_has() {
        // The writer was reworked to write every value type; the synthetic files (and anything
        // computed from them) must not change. Length and FNV-1a hash of the default model as
        // the writer before that wrote it.
        let bytes = super::super::synthetic::synthetic_gguf(&Default::default());
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        assert_eq!((bytes.len(), hash), (112_480, 0x2849_ccf6_8df8_ec0f));
    }
}
