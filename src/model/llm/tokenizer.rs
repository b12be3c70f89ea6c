//! The byte-level BPE tokenizer a Llama-family GGUF file describes (SmolLM2: model `gpt2`,
//! pre-tokenizer `smollm`): text → token ids, and back.
//!
//! Byte-level means the vocabulary's strings are not text but byte strings spelled in printable
//! characters (GPT-2's `bytes_to_unicode`: a space is `Ġ`, a newline `Ċ`, `é`'s two bytes are
//! `Ã©`). All 256 single bytes are tokens, so every text has a spelling: nothing is unknown.
//!
//! Encoding does what Hugging Face `tokenizers` does with SmolLM2's `tokenizer.json`:
//! 1. control and user-defined tokens written in the text (`<|im_start|>`) are cut out whole,
//!    the leftmost first and, where several start there, the longest;
//! 2. the rest is pre-tokenized into pieces: for `smollm` every digit on its own, then the GPT-2
//!    pattern on each part — contractions, a word with its leading space, a number, a run of
//!    punctuation, whitespace (a run before a word keeps its last space for that word);
//! 3. each piece starts as one symbol per byte, and merges are applied by rank, the lowest first,
//!    until no adjacent pair has a merge: the symbols left are the token ids.
//!
//! Decoding joins the tokens' bytes and reads them as UTF-8. `tests/fixtures/
//! smollm2_tokenization.json` (made by `tools/tokenizer_reference.py` with `tokenizers`) holds
//! the ids an independent implementation gives for ~40 tricky texts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use fancy_regex::Regex;
use thiserror::Error;

use super::gguf::quoted;

/// GGUF `tokenizer.ggml.token_type` values Gaze treats specially (llama.cpp's numbering).
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_BYTE: i32 = 6;

/// GPT-2's pre-tokenizer pattern, as `tokenizers`' `ByteLevel(use_regex=True)` writes it. The
/// look-ahead in `\s+(?!\S)` is why a run of spaces before a word gives its last space to the
/// word (`"a   b"` → `a`, `"  "`, `" b"`): words then start with `Ġ` as in the training data.
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// What a GGUF file says about its tokenizer (filled from metadata by the GGUF loader).
#[derive(Clone, Debug, Default)]
pub struct TokenizerSpec {
    /// `tokenizer.ggml.model`: the algorithm; Gaze reads `gpt2` (byte-level BPE).
    pub model: String,
    /// `tokenizer.ggml.pre`: how text is split before BPE, e.g. `smollm`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: the vocabulary, index = id, each a byte string spelled with
    /// GPT-2's byte-to-unicode table (`ĠParis` is the bytes of `" Paris"`).
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`, each `"left right"`; the list's order is the merges' rank.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type`, one per token (1 normal, 2 unknown, 3 control,
    /// 4 user-defined, 5 unused, 6 byte); may be empty, then every token is normal.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`: whether [`BpeTokenizer::encode`] starts with BOS
    /// (false for SmolLM2).
    pub add_bos: bool,
}

/// Why a file's tokenizer cannot be used, or why ids cannot be decoded.
#[derive(Debug, Error)]
pub enum TokenizerError {
    /// `tokenizer.ggml.model` is not byte-level BPE.
    #[error(
        "this file's tokenizer is `{model}`{kind}, which Gaze does not read yet; Gaze reads \
         byte-level BPE tokenizers (`gpt2`), such as SmolLM2's",
        model = quoted(.0),
        kind = model_kind(.0)
    )]
    UnsupportedModel(String),
    /// `tokenizer.ggml.pre` names a split Gaze does not implement.
    #[error(
        "this file's pre-tokenizer is `{pre}`, which Gaze does not read yet (it reads `smollm`, \
         `starcoder`, `refact`, `codeshell`, `command-r`, `exaone`, `minerva` and `gpt2`); \
         splitting text another way would give the model tokens it was not trained on",
        pre = quoted(.0)
    )]
    UnsupportedPreTokenizer(String),
    /// `tokenizer.ggml.tokens` is empty.
    #[error(
        "the file's tokenizer has no tokens (tokenizer.ggml.tokens is empty), so no text can be \
         encoded; the file may be damaged or not a language model"
    )]
    EmptyVocabulary,
    /// More tokens than a `u32` id can name.
    #[error(
        "the file lists {0} tokens, more than a 32-bit token id can name; the file is damaged"
    )]
    TooManyTokens(usize),
    /// `tokenizer.ggml.token_type` is neither empty nor one per token.
    #[error(
        "the file lists {types} token types for {tokens} tokens (tokenizer.ggml.token_type \
         needs one per token); the file may be damaged"
    )]
    TokenTypeCount {
        /// How many types the file lists.
        types: usize,
        /// How many tokens it lists.
        tokens: usize,
    },
    /// A merge is not two tokens separated by one space.
    #[error(
        "merge {index} (`{text}`) is not two tokens separated by one space; the file's merge \
         list (tokenizer.ggml.merges) may be damaged",
        text = quoted(.text)
    )]
    BadMerge {
        /// The merge's position in the list (its rank).
        index: usize,
        /// The merge as the file writes it.
        text: String,
    },
    /// A merge names, or makes, a token the vocabulary lacks.
    #[error(
        "merge {index} (`{text}`) needs the token `{token}`, which is not in the vocabulary; the \
         file's merges and tokens do not belong together",
        text = quoted(.text),
        token = quoted(.token)
    )]
    MergeOutsideVocabulary {
        /// The merge's position in the list (its rank).
        index: usize,
        /// The merge as the file writes it.
        text: String,
        /// The missing token: one side, or the two joined.
        token: String,
    },
    /// The BOS or EOS id is not a token.
    #[error(
        "the file's {which} token id {id} is outside its vocabulary of {vocab} tokens; the file \
         may be damaged"
    )]
    SpecialIdOutOfRange {
        /// `BOS` or `EOS`.
        which: &'static str,
        /// The id the file gives.
        id: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The pre-tokenizer's pattern did not compile (a bug in Gaze, not in the file).
    #[error("the pre-tokenizer's pattern did not compile ({0}); this is a bug in Gaze")]
    Pattern(String),
    /// An id to decode is not in the vocabulary.
    #[error(
        "token id {0} is not in this tokenizer's vocabulary; the ids may come from another model"
    )]
    UnknownId(u32),
}

/// The family a known non-BPE tokenizer belongs to, for [`TokenizerError::UnsupportedModel`].
fn model_kind(model: &str) -> &'static str {
    match model {
        "llama" => " (SentencePiece)",
        "bert" => " (WordPiece)",
        "t5" => " (Unigram)",
        "rwkv" => " (RWKV's trie tokenizer)",
        "" => " (the file names none: tokenizer.ggml.model is missing)",
        _ => "",
    }
}

/// Whether `pre` splits every digit into its own piece before the GPT-2 pattern (llama.cpp's
/// `\p{N}` first split, `tokenizers`' `Digits(individual_digits=true)`), or refuses it.
fn splits_digits(pre: Option<&str>) -> Result<bool, TokenizerError> {
    match pre {
        None | Some("gpt2" | "gpt-2" | "default") => Ok(false),
        Some(
            "smollm" | "starcoder" | "refact" | "codeshell" | "command-r" | "exaone" | "minerva",
        ) => Ok(true),
        Some(other) => Err(TokenizerError::UnsupportedPreTokenizer(other.to_owned())),
    }
}

/// GPT-2's `bytes_to_unicode`: the printable character that spells byte `b` in the vocabulary.
/// Bytes that are printable Latin-1 (`!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`) spell themselves; the 68
/// others (controls, space, soft hyphen) take U+0100, U+0101, … in byte order, so `' '` (0x20,
/// the 33rd of them) is U+0120 `Ġ`.
fn byte_char(b: u8) -> char {
    let printable = |c: u8| matches!(c, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let shifted = (0..b).filter(|&c| !printable(c)).count();
    // 256 + at most 67 is a valid scalar value, so the fallback is never taken.
    u32::try_from(256 + shifted)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The inverse of [`byte_char`]: which byte a vocabulary character spells, indexed by the
/// character's code point (all of them are below U+0144).
fn char_bytes_table() -> Vec<Option<u8>> {
    let mut table = vec![None; 0x144];
    for b in 0..=u8::MAX {
        if let Some(slot) = table.get_mut(byte_char(b) as usize) {
            *slot = Some(b);
        }
    }
    table
}

/// The bytes a normal token stands for: each character back through the byte table. A character
/// outside the table (not a byte-level vocabulary) stands for its own UTF-8, as `tokenizers`'
/// ByteLevel decoder does.
fn spelled_bytes(token: &str, table: &[Option<u8>]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(token.len());
    for c in token.chars() {
        match table.get(c as usize).copied().flatten() {
            Some(b) => bytes.push(b),
            None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    bytes
}

/// A byte token spelled SentencePiece-style, `<0x0A>`: its byte.
fn hex_byte(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// One merge: its rank (position in the merge list) and the token it makes.
#[derive(Clone, Copy, Debug)]
struct Merge {
    rank: u32,
    id: u32,
}

/// A byte-level BPE tokenizer built from a [`TokenizerSpec`]: [`encode`](Self::encode) and
/// [`decode`](Self::decode) as the model's own tokenizer does them.
#[derive(Clone)]
pub struct BpeTokenizer {
    /// The stored (byte-spelled) string of each token, index = id.
    tokens: Vec<String>,
    /// Stored string → id (the first id, if the file repeats a string).
    ids: HashMap<String, u32>,
    /// The bytes each token stands for, index = id.
    bytes: Vec<Vec<u8>>,
    /// The token of each single byte, where the vocabulary has it.
    byte_ids: [Option<u32>; 256],
    /// (left id, right id) → the merge of that pair.
    merges: HashMap<(u32, u32), Merge>,
    /// Control and user-defined tokens matched whole in the text: (text, id), longest first.
    specials: Vec<(String, u32)>,
    /// Whether some special token starts with this byte (a quick skip for all other bytes).
    special_first_bytes: [bool; 256],
    /// Split each digit into its own piece before the pattern (`smollm` and kin).
    split_digits: bool,
    /// The GPT-2 pre-tokenizer pattern.
    pattern: Regex,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
}

impl fmt::Debug for BpeTokenizer {
    // The tables are large; a summary says which tokenizer this is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BpeTokenizer")
            .field("vocab_size", &self.tokens.len())
            .field("merges", &self.merges.len())
            .field("specials", &self.specials.len())
            .field("split_digits", &self.split_digits)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

/// One symbol of a piece while merges run: a token id (`None`: a byte the vocabulary lacks,
/// which never merges and is dropped) in a doubly linked list over the piece's positions.
#[derive(Clone, Copy)]
struct Symbol {
    id: Option<u32>,
    prev: Option<usize>,
    next: Option<usize>,
    /// False once merged into the symbol on its left.
    alive: bool,
}

impl BpeTokenizer {
    /// Builds the tokenizer, checking the spec: the model must be `gpt2` and the pre-tokenizer
    /// one Gaze implements; every merge must name tokens of the vocabulary.
    pub fn new(spec: TokenizerSpec) -> Result<Self, TokenizerError> {
        if spec.model != "gpt2" {
            return Err(TokenizerError::UnsupportedModel(spec.model));
        }
        let split_digits = splits_digits(spec.pre.as_deref())?;
        if spec.tokens.is_empty() {
            return Err(TokenizerError::EmptyVocabulary);
        }
        // Every id is a u32 (GGUF stores them so), which keeps `id as usize` exact below.
        if u32::try_from(spec.tokens.len()).is_err() {
            return Err(TokenizerError::TooManyTokens(spec.tokens.len()));
        }
        if !spec.token_types.is_empty() && spec.token_types.len() != spec.tokens.len() {
            return Err(TokenizerError::TokenTypeCount {
                types: spec.token_types.len(),
                tokens: spec.tokens.len(),
            });
        }
        let vocab = spec.tokens.len();
        for (which, id) in [("BOS", spec.bos), ("EOS", spec.eos)] {
            if let Some(id) = id.filter(|&id| id as usize >= vocab) {
                return Err(TokenizerError::SpecialIdOutOfRange { which, id, vocab });
            }
        }

        let type_of = |i: usize| spec.token_types.get(i).copied().unwrap_or(1);
        let mut ids = HashMap::with_capacity(vocab);
        for (id, token) in (0u32..).zip(&spec.tokens) {
            ids.entry(token.clone()).or_insert(id);
        }

        // What each token stands for. Control and user-defined tokens are stored as their text
        // (llama.cpp's converter writes them unspelled), so they stand for that text.
        let table = char_bytes_table();
        let bytes: Vec<Vec<u8>> = spec
            .tokens
            .iter()
            .enumerate()
            .map(|(i, token)| match type_of(i) {
                TYPE_CONTROL | TYPE_USER_DEFINED => token.as_bytes().to_vec(),
                TYPE_BYTE => {
                    hex_byte(token).map_or_else(|| spelled_bytes(token, &table), |b| vec![b])
                }
                _ => spelled_bytes(token, &table),
            })
            .collect();

        let mut byte_ids = [None; 256];
        for (b, slot) in (0..=u8::MAX).zip(byte_ids.iter_mut()) {
            *slot = ids
                .get(byte_char(b).encode_utf8(&mut [0; 4]) as &str)
                .copied();
        }

        let mut merges = HashMap::with_capacity(spec.merges.len());
        for ((index, text), rank) in spec.merges.iter().enumerate().zip(0u32..) {
            let bad = || TokenizerError::BadMerge {
                index,
                text: text.clone(),
            };
            let (left, right) = text.split_once(' ').ok_or_else(bad)?;
            if left.is_empty() || right.is_empty() || right.contains(' ') {
                return Err(bad());
            }
            let id = |token: &str| {
                ids.get(token)
                    .copied()
                    .ok_or_else(|| TokenizerError::MergeOutsideVocabulary {
                        index,
                        text: text.clone(),
                        token: token.to_owned(),
                    })
            };
            let pair = (id(left)?, id(right)?);
            let made = id(&format!("{left}{right}"))?;
            // A repeated pair keeps its first (lowest) rank, as llama.cpp does.
            merges.entry(pair).or_insert(Merge { rank, id: made });
        }

        let mut specials: Vec<(String, u32)> = (0u32..)
            .zip(&spec.tokens)
            .enumerate()
            .filter(|&(i, (_, token))| {
                matches!(type_of(i), TYPE_CONTROL | TYPE_USER_DEFINED) && !token.is_empty()
            })
            .map(|(_, (id, token))| (token.clone(), id))
            .collect();
        // Longest first, so `<|im_start|>` wins over a shorter token that is its prefix.
        specials.sort_by_key(|(text, id)| (Reverse(text.len()), *id));
        let mut special_first_bytes = [false; 256];
        for (text, _) in &specials {
            if let Some(slot) = text
                .bytes()
                .next()
                .and_then(|b| special_first_bytes.get_mut(usize::from(b)))
            {
                *slot = true;
            }
        }

        let pattern =
            Regex::new(GPT2_PATTERN).map_err(|e| TokenizerError::Pattern(e.to_string()))?;
        Ok(Self {
            tokens: spec.tokens,
            ids,
            bytes,
            byte_ids,
            merges,
            specials,
            special_first_bytes,
            split_digits,
            pattern,
            bos: spec.bos,
            eos: spec.eos,
            add_bos: spec.add_bos,
        })
    }

    /// The token ids of `text`: BOS first when the file asks for it, special tokens written in
    /// the text as themselves, the rest pre-tokenized and BPE'd (see the module docs).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        if self.add_bos {
            out.extend(self.bos);
        }
        let mut rest = 0; // start of the text not yet encoded
        let mut at = 0;
        let raw = text.as_bytes();
        while let Some(&b) = raw.get(at) {
            let found = if self.special_first_bytes.get(usize::from(b)) == Some(&true) {
                self.special_at(raw.get(at..).unwrap_or_default())
            } else {
                None
            };
            match found {
                Some((len, id)) => {
                    self.encode_ordinary(text.get(rest..at).unwrap_or_default(), &mut out);
                    out.push(id);
                    at += len;
                    rest = at;
                }
                None => at += 1,
            }
        }
        self.encode_ordinary(text.get(rest..).unwrap_or_default(), &mut out);
        out
    }

    /// The longest special token that `text` starts with: its length in bytes and its id. A
    /// match is a whole UTF-8 string, so it starts and ends on character boundaries.
    fn special_at(&self, text: &[u8]) -> Option<(usize, u32)> {
        self.specials
            .iter()
            .find(|(special, _)| text.starts_with(special.as_bytes()))
            .map(|(special, id)| (special.len(), *id))
    }

    /// Encodes text without special tokens: pre-tokenize, then BPE each piece.
    fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>) {
        self.pre_tokenize(text, &mut |piece| self.bpe(piece.as_bytes(), out));
    }

    /// Cuts text without special tokens into the pieces BPE runs on, in order; together they
    /// are the whole text.
    fn pre_tokenize<'t>(&self, text: &'t str, each: &mut impl FnMut(&'t str)) {
        if !self.split_digits {
            self.split(text, each);
            return;
        }
        // Every digit (`\p{N}`, which is what `char::is_numeric` tests) is a piece of its own;
        // the pattern then runs on the text between digits, so `" 2024"` is `" "`, 2, 0, 2, 4.
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c.is_numeric() {
                self.split(text.get(start..i).unwrap_or_default(), each);
                start = i + c.len_utf8();
                each(text.get(i..start).unwrap_or_default());
            }
        }
        self.split(text.get(start..).unwrap_or_default(), each);
    }

    /// Splits text with the GPT-2 pattern.
    fn split<'t>(&self, text: &'t str, each: &mut impl FnMut(&'t str)) {
        let mut done = 0;
        for found in self.pattern.find_iter(text) {
            match found {
                Ok(piece) => {
                    each(piece.as_str());
                    done = piece.end();
                }
                // The pattern can only fail by exceeding fancy-regex's backtracking limit, which
                // it does not approach (every character starts a match; the look-ahead backs up
                // one character). Should it ever, the rest is one piece: still exact bytes.
                Err(_) => break,
            }
        }
        if let Some(rest) = text.get(done..).filter(|rest| !rest.is_empty()) {
            each(rest);
        }
    }

    /// Byte-pair encoding of one piece: start from one symbol per byte, then repeatedly merge
    /// the adjacent pair with the lowest rank (the leftmost among equals) until no pair has a
    /// merge. A heap of candidate pairs makes this O(n log n) in the piece's length; entries
    /// left stale by earlier merges are recognised on the way out and dropped.
    fn bpe(&self, piece: &[u8], out: &mut Vec<u32>) {
        if let [b] = piece {
            out.extend(self.byte_id(*b));
            return;
        }
        let n = piece.len();
        let mut symbols: Vec<Symbol> = piece
            .iter()
            .enumerate()
            .map(|(i, &b)| Symbol {
                id: self.byte_id(b),
                prev: i.checked_sub(1),
                next: Some(i + 1).filter(|&j| j < n),
                alive: true,
            })
            .collect();

        // (rank, left position, left id, right id); Reverse makes the max-heap a min-heap.
        let mut heap = BinaryHeap::new();
        let candidate =
            |symbols: &[Symbol], left: usize| -> Option<Reverse<(u32, usize, u32, u32)>> {
                let a = symbols.get(left)?;
                let b = symbols.get(a.next?)?;
                let (l, r) = (a.id?, b.id?);
                let merge = self.merges.get(&(l, r))?;
                Some(Reverse((merge.rank, left, l, r)))
            };
        for left in 0..n {
            heap.extend(candidate(&symbols, left));
        }

        while let Some(Reverse((_, left, l, r))) = heap.pop() {
            // Still the same pair? A merge on either side since the push changes an id.
            let Some(&a) = symbols.get(left) else {
                continue;
            };
            let Some(right) = a.next else { continue };
            let Some(&b) = symbols.get(right) else {
                continue;
            };
            if !a.alive || a.id != Some(l) || b.id != Some(r) {
                continue;
            }
            let Some(merge) = self.merges.get(&(l, r)) else {
                continue;
            };
            if let Some(s) = symbols.get_mut(left) {
                s.id = Some(merge.id);
                s.next = b.next;
            }
            if let Some(s) = symbols.get_mut(right) {
                s.alive = false;
            }
            if let Some(s) = b.next.and_then(|after| symbols.get_mut(after)) {
                s.prev = Some(left);
            }
            // The merged symbol forms new pairs with both neighbours.
            if let Some(before) = a.prev {
                heap.extend(candidate(&symbols, before));
            }
            heap.extend(candidate(&symbols, left));
        }

        // Symbol 0 is never merged away (merges keep the left symbol), so the list starts there.
        let mut at = Some(0);
        while let Some(symbol) = at.and_then(|i| symbols.get(i)) {
            out.extend(symbol.id);
            at = symbol.next;
        }
    }

    /// The token of one byte, if the vocabulary has it (a byte-level vocabulary has all 256).
    fn byte_id(&self, b: u8) -> Option<u32> {
        self.byte_ids.get(usize::from(b)).copied().flatten()
    }

    /// The text `ids` stand for: their bytes joined, read as UTF-8, with any invalid sequence
    /// (a character cut between ids) replaced by U+FFFD. The exact inverse of
    /// [`encode`](Self::encode) for every text.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let token = self
                .bytes
                .get(id as usize)
                .ok_or(TokenizerError::UnknownId(id))?;
            bytes.extend_from_slice(token);
        }
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The raw bytes token `id` stands for; a special token gives its text. A continuation
    /// streamed token by token buffers these until they form valid UTF-8: one character may
    /// span several tokens.
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        self.bytes.get(id as usize).cloned()
    }

    /// The display text of one token, e.g. `" Paris"` (lossy UTF-8: a token holding part of a
    /// character shows U+FFFD); empty for an id outside the vocabulary.
    pub fn token_text(&self, id: u32) -> String {
        self.bytes
            .get(id as usize)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default()
    }

    /// How many tokens the vocabulary holds (the model's output width).
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token by its stored (byte-spelled) string, e.g. `"ĠParis"`, `"<|im_end|>"`.
    pub fn id_of(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The end-of-sequence token, if the file names one.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The beginning-of-sequence token, if the file names one.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A spelled token from plain text: each UTF-8 byte through the byte table.
    fn spell(text: &str) -> String {
        text.bytes().map(byte_char).collect()
    }

    /// A small byte-level vocabulary: the given specials (control tokens, ids 0..), the 256
    /// bytes, then each merge's result, in merge order. Merges are written in plain text
    /// (`" t"` for `Ġt`), one space between the sides.
    fn synthetic_spec(
        merges: &[(&str, &str)],
        specials: &[&str],
        pre: Option<&str>,
    ) -> TokenizerSpec {
        let mut tokens: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
        let mut token_types = vec![TYPE_CONTROL; tokens.len()];
        tokens.extend((0..=u8::MAX).map(|b| byte_char(b).to_string()));
        let mut merge_lines = Vec::new();
        for (left, right) in merges {
            merge_lines.push(format!("{} {}", spell(left), spell(right)));
            let made = spell(&format!("{left}{right}"));
            if !tokens.contains(&made) {
                tokens.push(made);
            }
        }
        token_types.resize(tokens.len(), 1);
        TokenizerSpec {
            model: "gpt2".into(),
            pre: pre.map(str::to_owned),
            tokens,
            merges: merge_lines,
            token_types,
            bos: None,
            eos: None,
            add_bos: false,
        }
    }

    fn synthetic(merges: &[(&str, &str)], specials: &[&str], pre: Option<&str>) -> BpeTokenizer {
        BpeTokenizer::new(synthetic_spec(merges, specials, pre)).unwrap()
    }

    /// The tokens of `text`, as display text.
    fn texts(tok: &BpeTokenizer, text: &str) -> Vec<String> {
        tok.encode(text)
            .into_iter()
            .map(|id| tok.token_text(id))
            .collect()
    }

    fn pieces(tok: &BpeTokenizer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        tok.pre_tokenize(text, &mut |piece| out.push(piece.to_owned()));
        out
    }

    const ENGLISH: &[(&str, &str)] =
        &[(" ", "t"), ("h", "e"), (" t", "he"), ("i", "n"), (" ", " ")];
    const CHAT: &[&str] = &["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    #[test]
    fn byte_table_is_gpt2s_bytes_to_unicode() {
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(byte_char(b'\t'), 'ĉ');
        assert_eq!(byte_char(b'!'), '!');
        assert_eq!(byte_char(0xE9), 'é');
        assert_eq!(byte_char(0x80), 'Ģ'); // so "âĢ" spells E2 80, the start of U+2000..
        assert_eq!(byte_char(0xAD), '\u{143}');
        let mut all: Vec<char> = (0..=u8::MAX).map(byte_char).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 256, "the table is one-to-one");
        let table = char_bytes_table();
        for b in 0..=u8::MAX {
            assert_eq!(spelled_bytes(&byte_char(b).to_string(), &table), [b]);
        }
    }

    #[test]
    fn merges_apply_lowest_rank_first() {
        // "b c" ranks before "a b": abc → a + bc, and "a b" never applies.
        let tok = synthetic(&[("b", "c"), ("a", "b")], &[], None);
        assert_eq!(texts(&tok, "abc"), ["a", "bc"]);
        // The other order: ab + c.
        let tok = synthetic(&[("a", "b"), ("b", "c")], &[], None);
        assert_eq!(texts(&tok, "abc"), ["ab", "c"]);
        // A later merge may build on an earlier one.
        let tok = synthetic(ENGLISH, &[], None);
        assert_eq!(texts(&tok, " the in"), [" the", " ", "in"]);
    }

    #[test]
    fn equal_ranks_merge_the_leftmost_pair_first() {
        let tok = synthetic(&[("a", "a")], &[], None);
        assert_eq!(texts(&tok, "aaa"), ["aa", "a"]);
        assert_eq!(texts(&tok, "aaaaa"), ["aa", "aa", "a"]);
    }

    /// The textbook loop — find the lowest-ranked adjacent pair, leftmost first, merge it,
    /// repeat — to check the heap version against.
    fn naive_bpe(tok: &BpeTokenizer, piece: &[u8]) -> Vec<u32> {
        let mut symbols: Vec<u32> = piece.iter().filter_map(|&b| tok.byte_id(b)).collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| tok.merges.get(&(w[0], w[1])).map(|m| (m.rank, i, m.id)))
                .min();
            let Some((_, i, id)) = best else {
                return symbols;
            };
            symbols[i] = id;
            symbols.remove(i + 1);
        }
    }

    proptest! {
        #[test]
        fn heap_bpe_agrees_with_the_textbook_loop(piece in "[abc]{0,40}") {
            let merges = [
                ("a", "b"), ("b", "c"), ("c", "a"), ("a", "a"), ("ab", "c"), ("b", "b"),
                ("aa", "a"), ("c", "c"), ("a", "bc"), ("ca", "b"), ("cc", "cc"), ("ab", "ab"),
                ("bc", "a"), ("aa", "aa"), ("c", "ab"),
            ];
            let tok = synthetic(&merges, &[], None);
            let mut heap = Vec::new();
            tok.bpe(piece.as_bytes(), &mut heap);
            prop_assert_eq!(heap, naive_bpe(&tok, piece.as_bytes()));
        }

        #[test]
        fn decode_inverts_encode_for_any_utf8_text(text in any::<String>(), chat in any::<bool>()) {
            let tok = synthetic(ENGLISH, CHAT, Some("smollm"));
            // Interleave a special token so both paths meet in one text.
            let text = if chat { format!("<|im_start|>{text}<|im_end|>{text}") } else { text };
            prop_assert_eq!(tok.decode(&tok.encode(&text)).unwrap(), text);
        }

        #[test]
        fn pieces_cover_the_text_in_order(text in any::<String>()) {
            let tok = synthetic(&[], &[], Some("smollm"));
            prop_assert_eq!(pieces(&tok, &text).concat(), text);
        }
    }

    #[test]
    fn special_tokens_in_text_are_matched_whole() {
        // "<|im" is a (user-defined-like) special that is a prefix of "<|im_start|>".
        let tok = synthetic(ENGLISH, &["<|im_start|>", "<|im_end|>", "<|im"], None);
        let start = tok.id_of("<|im_start|>").unwrap();
        let end = tok.id_of("<|im_end|>").unwrap();
        let short = tok.id_of("<|im").unwrap();
        let ids = tok.encode("<|im_start|>the<|im_end|>");
        assert_eq!(ids.first(), Some(&start));
        assert_eq!(ids.last(), Some(&end));
        assert_eq!(ids.len(), 4, "{ids:?}"); // start, "t", "he", end
                                             // The longest special that matches wins; a broken one falls back to the shorter special,
                                             // and the rest is ordinary text.
        let ids = tok.encode("<|im_start|<|im_end|>");
        assert_eq!(ids.first(), Some(&short));
        assert_eq!(ids.last(), Some(&end));
        assert_eq!(tok.decode(&ids).unwrap(), "<|im_start|<|im_end|>");
        // Specials decode to their text, and their bytes are that text.
        assert_eq!(tok.token_bytes(start).unwrap(), b"<|im_start|>");
        assert_eq!(tok.token_text(end), "<|im_end|>");
        // Adjacent specials, and text that is not one.
        assert_eq!(tok.encode("<|im_end|><|im_end|>"), [end, end]);
        assert!(!tok.encode("<|IM_END|>").contains(&end));
    }

    #[test]
    fn special_tokens_inside_multibyte_text_keep_the_characters_whole() {
        let tok = synthetic(ENGLISH, CHAT, Some("smollm"));
        let text = "日<|im_end|>本é<|im_start|>🦀";
        assert_eq!(tok.decode(&tok.encode(text)).unwrap(), text);
    }

    #[test]
    fn digits_split_one_by_one_for_smollm() {
        let merges = [("1", "2"), (" ", "1")];
        let smollm = synthetic(&merges, &[], Some("smollm"));
        assert_eq!(
            pieces(&smollm, "In 2024,"),
            ["In", " ", "2", "0", "2", "4", ","]
        );
        assert_eq!(texts(&smollm, " 123"), [" ", "1", "2", "3"]);
        // Any \p{N}, not only ASCII: Arabic-Indic three, Roman numeral twelve, a vulgar half.
        assert_eq!(
            pieces(&smollm, "x\u{663}\u{216b}\u{bd}y"),
            ["x", "\u{663}", "\u{216b}", "\u{bd}", "y"]
        );
        // GPT-2 itself keeps a number whole, with its leading space.
        let gpt2 = synthetic(&merges, &[], Some("gpt2"));
        assert_eq!(pieces(&gpt2, "In 2024,"), ["In", " 2024", ","]);
        assert_eq!(texts(&gpt2, " 123"), [" ", "12", "3"]);
    }

    #[test]
    fn whitespace_runs_keep_the_last_space_for_the_next_word() {
        let tok = synthetic(&[], &[], Some("smollm"));
        assert_eq!(pieces(&tok, "a   b"), ["a", "  ", " b"]);
        assert_eq!(pieces(&tok, "a \n b"), ["a", " \n", " b"]);
        // Only a space joins the next word; a tab or a no-break space stands alone.
        assert_eq!(pieces(&tok, "a\t\tb"), ["a", "\t", "\t", "b"]);
        assert_eq!(pieces(&tok, "a  \u{a0}b"), ["a", "  ", "\u{a0}", "b"]);
        // At the end of the text the whole run is one piece.
        assert_eq!(pieces(&tok, "end  "), ["end", "  "]);
        assert_eq!(pieces(&tok, "  "), ["  "]);
    }

    #[test]
    fn contractions_split_as_gpt2_does() {
        let tok = synthetic(&[], &[], None);
        assert_eq!(pieces(&tok, "it's we'll"), ["it", "'s", " we", "'ll"]);
        // Case-sensitive, as in GPT-2: an upper-case contraction is punctuation then letters.
        assert_eq!(pieces(&tok, "IT'S"), ["IT", "'", "S"]);
        // After a space the apostrophe is punctuation with that space.
        assert_eq!(pieces(&tok, "a 's"), ["a", " '", "s"]);
    }

    #[test]
    fn long_runs_split_without_giving_up() {
        // A long whitespace run before a word: the look-ahead backs up one character, however
        // long the run (fancy-regex's backtracking limit is never near).
        let tok = synthetic(ENGLISH, &[], Some("smollm"));
        let text = format!("{}the", " ".repeat(100_000));
        let got = pieces(&tok, &text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], " the");
        // One long word (CJK has no spaces) is one piece, BPE'd in n log n.
        let cjk = "日本語".repeat(20_000);
        assert_eq!(pieces(&tok, &cjk).len(), 1);
        assert_eq!(tok.decode(&tok.encode(&cjk)).unwrap(), cjk);
        assert_eq!(tok.decode(&tok.encode(&text)).unwrap(), text);
    }

    #[test]
    fn decode_of_a_cut_character_is_lossy_and_token_bytes_carry_it() {
        let tok = synthetic(&[], &[], None);
        let ids = tok.encode("é");
        assert_eq!(ids.len(), 2);
        // Half a character decodes to U+FFFD; the bytes of both halves make it whole again.
        assert_eq!(tok.decode(&ids[..1]).unwrap(), "\u{fffd}");
        assert_eq!(tok.token_text(ids[0]), "\u{fffd}");
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| tok.token_bytes(id).unwrap())
            .collect();
        assert_eq!(String::from_utf8(bytes).unwrap(), "é");
        // A cut character in the middle is replaced there, not only at the end.
        let mut cut = ids[..1].to_vec();
        cut.extend(tok.encode("x"));
        assert_eq!(tok.decode(&cut).unwrap(), "\u{fffd}x");
    }

    #[test]
    fn unknown_ids_are_an_error_not_a_panic() {
        let tok = synthetic(&[], &[], None);
        let past = u32::try_from(tok.vocab_size()).unwrap();
        assert!(
            matches!(tok.decode(&[65, past]), Err(TokenizerError::UnknownId(id)) if id == past)
        );
        assert_eq!(tok.token_bytes(past), None);
        assert_eq!(tok.token_text(u32::MAX), "");
    }

    #[test]
    fn token_text_shows_the_leading_space() {
        let tok = synthetic(ENGLISH, &[], None);
        let the = tok.id_of(&spell(" the")).unwrap();
        assert_eq!(tok.id_of("Ġthe"), Some(the));
        assert_eq!(tok.token_text(the), " the");
        assert_eq!(tok.token_bytes(the).unwrap(), b" the");
        assert_eq!(tok.encode(" the"), [the]);
    }

    #[test]
    fn bos_is_added_only_when_the_file_asks() {
        let mut spec = synthetic_spec(&[], CHAT, None);
        spec.bos = Some(1);
        spec.eos = Some(2);
        let tok = BpeTokenizer::new(spec.clone()).unwrap();
        assert_eq!(tok.encode("a"), [tok.id_of("a").unwrap()]);
        assert_eq!((tok.bos(), tok.eos()), (Some(1), Some(2)));
        spec.add_bos = true;
        let tok = BpeTokenizer::new(spec).unwrap();
        assert_eq!(tok.encode("a"), [1, tok.id_of("a").unwrap()]);
        assert_eq!(tok.encode(""), [1]);
    }

    #[test]
    fn unsupported_tokenizer_model_is_refused_by_name() {
        let mut spec = synthetic_spec(&[], &[], None);
        spec.model = "llama".into();
        let err = BpeTokenizer::new(spec).unwrap_err();
        assert!(matches!(&err, TokenizerError::UnsupportedModel(m) if m == "llama"));
        let message = err.to_string();
        assert!(message.contains("`llama` (SentencePiece)"), "{message}");
        assert!(message.contains("gpt2"), "{message}");
    }

    #[test]
    fn unsupported_pre_tokenizer_is_refused_by_name() {
        for pre in ["qwen2", "llama-bpe"] {
            let err = BpeTokenizer::new(synthetic_spec(&[], &[], Some(pre))).unwrap_err();
            assert!(matches!(&err, TokenizerError::UnsupportedPreTokenizer(p) if p == pre));
            assert!(err.to_string().contains(&format!("`{pre}`")), "{err}");
        }
    }

    #[test]
    fn broken_files_are_refused_with_what_is_wrong() {
        let mut spec = synthetic_spec(ENGLISH, &[], None);
        spec.merges.insert(1, "nospace".into());
        let err = BpeTokenizer::new(spec).unwrap_err();
        assert!(
            matches!(&err, TokenizerError::BadMerge { index: 1, text } if text == "nospace"),
            "{err}"
        );

        let mut spec = synthetic_spec(ENGLISH, &[], None);
        spec.merges.push("Ġthe Ġcat".into());
        let err = BpeTokenizer::new(spec).unwrap_err();
        assert!(
            matches!(&err, TokenizerError::MergeOutsideVocabulary { index: 5, token, .. } if token == "Ġcat"),
            "{err}"
        );

        let mut spec = synthetic_spec(&[], &[], None);
        spec.token_types.pop();
        assert!(matches!(
            BpeTokenizer::new(spec),
            Err(TokenizerError::TokenTypeCount { .. })
        ));

        let mut spec = synthetic_spec(&[], &[], None);
        spec.eos = Some(1_000_000);
        let err = BpeTokenizer::new(spec).unwrap_err();
        assert!(err.to_string().contains("EOS token id 1000000"), "{err}");

        let spec = TokenizerSpec {
            model: "gpt2".into(),
            ..TokenizerSpec::default()
        };
        assert!(matches!(
            BpeTokenizer::new(spec),
            Err(TokenizerError::EmptyVocabulary)
        ));
    }

    #[test]
    fn a_vocabulary_without_some_bytes_drops_them_instead_of_panicking() {
        let mut spec = synthetic_spec(&[], &[], None);
        // Remove 'z' from the vocabulary by renaming it to something no text spells.
        let z = spec.tokens.iter().position(|t| t == "z").unwrap();
        spec.tokens[z] = "<not z>".into();
        let tok = BpeTokenizer::new(spec).unwrap();
        assert_eq!(tok.decode(&tok.encode("azb")).unwrap(), "ab");
    }

    #[test]
    fn empty_token_types_mean_all_normal() {
        let mut spec = synthetic_spec(ENGLISH, CHAT, None);
        spec.token_types.clear();
        let tok = BpeTokenizer::new(spec).unwrap();
        // No specials are known, so "<|im_end|>" is ordinary text.
        assert!(tok.encode("<|im_end|>").len() > 1);
    }

    #[test]
    fn tokenizer_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<BpeTokenizer>();
    }

    /// The real vocabulary against Hugging Face `tokenizers`: every case of
    /// `tests/fixtures/smollm2_tokenization.json`. Needs the file's tokenizer spec as JSON
    /// (`python tools/tokenizer_reference.py FILE.gguf --spec-out /tmp/smollm2_spec.json`),
    /// named by GAZE_TOKENIZER_SPEC; without it the test says so and passes.
    #[test]
    fn matches_hf_tokenizers_on_the_smollm2_fixture() {
        let Ok(spec_path) = std::env::var("GAZE_TOKENIZER_SPEC") else {
            eprintln!(
                "SKIPPED matches_hf_tokenizers_on_the_smollm2_fixture: set GAZE_TOKENIZER_SPEC to \
                 the JSON `tools/tokenizer_reference.py --spec-out` writes"
            );
            return;
        };
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
        let strings = |key: &str| -> Vec<String> {
            json[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let id = |key: &str| json[key].as_u64().map(|v| u32::try_from(v).unwrap());
        let spec = TokenizerSpec {
            model: json["model"].as_str().unwrap().to_owned(),
            pre: json["pre"].as_str().map(str::to_owned),
            tokens: strings("tokens"),
            merges: strings("merges"),
            token_types: json["token_types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| i32::try_from(v.as_i64().unwrap()).unwrap())
                .collect(),
            bos: id("bos"),
            eos: id("eos"),
            add_bos: json["add_bos"].as_bool().unwrap(),
        };
        let started = std::time::Instant::now();
        let tok = BpeTokenizer::new(spec).unwrap();
        let built = started.elapsed();
        assert_eq!(tok.vocab_size(), 49_152);
        assert_eq!(
            tok.encode("The capital of France is"),
            [504, 3575, 282, 4649, 314]
        );
        assert_eq!(tok.id_of("<|im_end|>"), Some(2));
        assert_eq!(tok.eos(), Some(2));

        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/smollm2_tokenization.json");
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert!(cases.len() >= 40);
        let mut failures = Vec::new();
        let mut bytes = 0;
        let started = std::time::Instant::now();
        for case in cases {
            let text = case["text"].as_str().unwrap();
            let want: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| u32::try_from(v.as_u64().unwrap()).unwrap())
                .collect();
            let got = tok.encode(text);
            bytes += text.len();
            if got != want {
                failures.push(format!("{text:?}\n   want {want:?}\n   got  {got:?}"));
            }
            assert_eq!(tok.decode(&got).unwrap(), text);
        }
        let encoded = started.elapsed();
        eprintln!(
            "smollm2 tokenizer: built in {built:?}; {} cases ({bytes} bytes) encoded in {encoded:?}",
            cases.len()
        );
        // Throughput on prose: the longest case (the paragraph) many times over.
        let long = cases
            .iter()
            .filter_map(|c| c["text"].as_str())
            .max_by_key(|t| t.len())
            .unwrap();
        let text = format!("{long} ").repeat(100);
        let started = std::time::Instant::now();
        let ids = tok.encode(&text);
        let took = started.elapsed();
        let started = std::time::Instant::now();
        let mut pieces = 0;
        tok.pre_tokenize(&text, &mut |_| pieces += 1);
        let split = started.elapsed();
        eprintln!(
            "smollm2 tokenizer: {} bytes -> {} ids in {took:?} ({:.1} MB/s; the split alone, {pieces} pieces, {split:?})",
            text.len(),
            ids.len(),
            text.len() as f64 / took.as_secs_f64() / 1e6
        );
        assert!(
            failures.is_empty(),
            "{} cases differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
