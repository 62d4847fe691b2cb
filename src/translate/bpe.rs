//! A count-only byte-pair encoder for tiktoken's `o200k_base`: the number of tokens
//! `o200k_base` gives an ordinary text (no special tokens), and nothing else.
//!
//! We used to count with `tiktoken-rs`'s `CoreBPE`, which keeps the vocabulary twice as
//! per-token heap allocations (a `HashMap<Vec<u8>, Rank>` encoder and its decoder), a
//! sorted token list and 128 clones of its regex: about 50 MiB resident, most of the
//! proxy's memory, to answer one question (how many tokens). This module answers it with
//! the same vocabulary and the same algorithm in a few MiB:
//!
//! - the vocabulary is `assets/o200k_base.ranks` (tiktoken's `o200k_base.tiktoken`
//!   decoded, 1.6 MB, see `assets/README.md`), embedded in the binary and used in place:
//!   the tokens' bytes and lengths are never copied;
//! - the index is an open-addressing hash table of `u32` slots (rank and hash tag) and
//!   where every 8th token starts, built once, on first use;
//! - pre-tokenisation is tiktoken's `o200k_base` split pattern with its one lookahead,
//!   `\s+(?!\S)`, replaced by a fix-up after a plain `\s+` match (see [`PATTERN`]), so a
//!   forward lazy DFA (`regex-automata`'s, the engine inside the `regex` crate) runs it,
//!   anchored where the last piece ended, with a small bounded cache;
//! - merging is tiktoken's byte-pair merge (the lowest-ranked adjacent pair first, the
//!   leftmost on ties), with its quadratic loop for short pieces and its heap for long
//!   ones, counting the parts instead of returning them.
//!
//! The tests check counts against `tiktoken-rs` itself. Measured in release, each in a
//! fresh process: loading this index adds about 5.4 MiB resident (46 MiB for `CoreBPE`),
//! and counting Claude Code's 80 KB first request takes about 1.4 ms uncached (4.5 ms).

use std::collections::BinaryHeap;
use std::sync::{Mutex, OnceLock, PoisonError};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::{Anchored, Input};

/// The `o200k_base` vocabulary in rank order: a little-endian `u32` count `n`, then the `n`
/// tokens' lengths (one byte each), then their bytes back to back.
static VOCABULARY: &[u8] = include_bytes!("../../assets/o200k_base.ranks");

/// tiktoken's `o200k_base` pattern (`O200K_BASE_PAT_STR`) with its last two alternatives,
/// `\s+(?!\S)|\s+`, merged into `\s+`. A backtracking engine matches `\s+(?!\S)` as the
/// whole whitespace run when it ends the text, and as the run less its last character when
/// the run has two or more characters and is followed by text; otherwise `\s+` takes the
/// run (of one character). [`O200kBase::count`] makes the same cut after a `\s+` match.
const PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+",
);

/// The most memory one lazy DFA cache takes (one cache per concurrent count); the pattern
/// needs a few hundred states on ordinary text.
const DFA_CACHE_CAPACITY: usize = 512 * 1024;

/// Tokens between two of [`O200kBase`]'s checkpoints.
const STRIDE: usize = 8;

/// Pieces shorter than this are merged with tiktoken's quadratic loop, longer ones with its
/// heap (tiktoken's own threshold).
const SMALL_PIECE: usize = 100;

/// Bits of a slot that hold the rank; the bits above hold a tag from the hash.
const RANK_BITS: u32 = 18;
const RANK_MASK: u32 = (1 << RANK_BITS) - 1;
const TAG_BITS: u32 = 32 - RANK_BITS;
/// A free slot (its rank bits, all ones, are no rank's: ranks stay below `RANK_MASK`).
const EMPTY: u32 = u32::MAX;
/// No merge (tiktoken's `Rank::MAX`).
const NONE: u32 = u32::MAX;

/// The `o200k_base` tokenizer, as far as counting goes. Get it with [`o200k_base`].
pub struct O200kBase {
    /// All tokens' bytes back to back, in rank order (borrowed from [`VOCABULARY`]).
    bytes: &'static [u8],
    /// Each token's length in bytes, in rank order (borrowed from [`VOCABULARY`]).
    lengths: &'static [u8],
    /// Where every [`STRIDE`]-th token starts in `bytes`: token `r` starts there plus the
    /// lengths of the tokens before it since the checkpoint. A start per token would be
    /// 0.8 MB of heap, these are 100 KB.
    checkpoints: Vec<u32>,
    /// Open-addressing hash table (linear probing) of `tag << RANK_BITS | rank`, or
    /// [`EMPTY`].
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the slot.
    shift: u32,
    /// [`PATTERN`], compiled forward only.
    dfa: DFA,
    /// The lazy DFA's caches not in use (a count takes one and gives it back).
    caches: Mutex<Vec<Cache>>,
}

/// The shared tokenizer, built on first use (a few milliseconds; [`super::tokens::warm_up`]
/// does it at startup).
pub fn o200k_base() -> &'static O200kBase {
    static TOKENIZER: OnceLock<O200kBase> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        // The table is embedded and the pattern fixed; the tests build both.
        O200kBase::new(VOCABULARY).expect("the embedded o200k_base table is well-formed")
    })
}

impl O200kBase {
    /// Indexes `vocabulary` (in the format of [`VOCABULARY`]) and compiles the pattern.
    fn new(vocabulary: &'static [u8]) -> Result<Self, String> {
        let (count, rest) = vocabulary
            .split_first_chunk::<4>()
            .ok_or("no token count")?;
        let count = u32::from_le_bytes(*count) as usize;
        if count == 0 || count >= RANK_MASK as usize {
            return Err(format!("{count} tokens do not fit in a slot"));
        }
        let (lengths, bytes) = rest.split_at_checked(count).ok_or("lengths cut short")?;
        let mut checkpoints = Vec::with_capacity(count.div_ceil(STRIDE));
        let mut end = 0u32;
        for (rank, &len) in lengths.iter().enumerate() {
            if rank % STRIDE == 0 {
                checkpoints.push(end);
            }
            end += u32::from(len);
        }
        if end as usize != bytes.len() {
            return Err(format!("lengths add up to {end}, not {}", bytes.len()));
        }

        // At most 80% full, so that misses (most lookups while merging) end quickly.
        let capacity = (count + count / 4).next_power_of_two().max(2);
        let mut tokenizer = O200kBase {
            bytes,
            lengths,
            checkpoints,
            slots: vec![EMPTY; capacity],
            shift: 64 - capacity.trailing_zeros(),
            dfa: DFA::builder()
                .configure(DFA::config().cache_capacity(DFA_CACHE_CAPACITY))
                .thompson(thompson::Config::new().which_captures(WhichCaptures::None))
                .build(PATTERN)
                .map_err(|e| e.to_string())?,
            caches: Mutex::new(Vec::new()),
        };
        let mut start = 0;
        for (rank, &len) in (0..count as u32).zip(lengths) {
            let token = &bytes[start..start + usize::from(len)];
            start += usize::from(len);
            if token.is_empty() {
                return Err(format!("token {rank} is empty"));
            }
            let (mut i, tag) = tokenizer.position(token);
            loop {
                let slot = tokenizer.slots[i];
                if slot == EMPTY {
                    tokenizer.slots[i] = tag | rank;
                    break;
                }
                if slot & !RANK_MASK == tag && tokenizer.token(slot & RANK_MASK) == token {
                    return Err(format!("token {rank} repeats token {}", slot & RANK_MASK));
                }
                i = (i + 1) & (capacity - 1);
            }
        }
        Ok(tokenizer)
    }

    /// The number of `o200k_base` tokens in `text`, special tokens counted as ordinary text
    /// (tiktoken's `encode_ordinary(text).len()`).
    pub fn count(&self, text: &str) -> usize {
        self.with_cache(|cache| {
            Pieces::new(self, cache, text)
                .map(|piece| self.count_piece(piece.as_bytes()))
                .sum()
        })
    }

    /// Runs `f` with a lazy DFA cache of its own (reused across counts).
    fn with_cache<T>(&self, f: impl FnOnce(&mut Cache) -> T) -> T {
        let caches = || self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cache = caches().pop().unwrap_or_else(|| self.dfa.create_cache());
        let result = f(&mut cache);
        caches().push(cache);
        result
    }

    /// The tokens in one pre-tokenised piece (tiktoken's `byte_pair_encode(piece).len()`).
    fn count_piece(&self, piece: &[u8]) -> usize {
        if piece.is_empty() {
            0
        } else if self.rank(piece).is_some() {
            1
        } else if piece.len() < SMALL_PIECE {
            self.merge_small(piece)
        } else {
            self.merge_large(piece)
        }
    }

    /// The bytes of the token of rank `rank`.
    fn token(&self, rank: u32) -> &[u8] {
        let r = rank as usize;
        let since = r - r % STRIDE;
        let start = self.checkpoints[r / STRIDE] as usize
            + self.lengths[since..r]
                .iter()
                .map(|&len| usize::from(len))
                .sum::<usize>();
        &self.bytes[start..start + usize::from(self.lengths[r])]
    }

    /// The rank of the token `bytes`, if they are one.
    fn rank(&self, bytes: &[u8]) -> Option<u32> {
        let (mut i, tag) = self.position(bytes);
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            if slot & !RANK_MASK == tag && self.token(slot & RANK_MASK) == bytes {
                return Some(slot & RANK_MASK);
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }

    /// The home slot of `bytes` and the tag (already shifted into place) its slot carries.
    fn position(&self, bytes: &[u8]) -> (usize, u32) {
        let h = hash(bytes);
        let tag = ((h >> (self.shift - TAG_BITS)) as u32 & ((1 << TAG_BITS) - 1)) << RANK_BITS;
        ((h >> self.shift) as usize, tag)
    }

    fn pair_rank(&self, bytes: &[u8]) -> u32 {
        self.rank(bytes).unwrap_or(NONE)
    }

    /// tiktoken's `_byte_pair_merge` for pieces under [`SMALL_PIECE`] bytes, on the stack:
    /// merge the lowest-ranked adjacent pair (the leftmost of equals) until no pair is a
    /// token; the count is the number of parts left.
    fn merge_small(&self, piece: &[u8]) -> usize {
        debug_assert!(!piece.is_empty() && piece.len() < SMALL_PIECE);
        // (start, rank of the pair starting there), plus two end markers.
        let mut parts = [(0u8, NONE); SMALL_PIECE + 1];
        let n = piece.len();
        let mut min = (NONE, usize::MAX);
        for i in 0..n - 1 {
            let rank = self.pair_rank(&piece[i..i + 2]);
            if rank < min.0 {
                min = (rank, i);
            }
            parts[i] = (i as u8, rank);
        }
        parts[n - 1] = ((n - 1) as u8, NONE);
        parts[n] = (n as u8, NONE);
        let mut len = n + 1;

        // The rank of parts i and i + 1 joined, while part i + 1 has not been removed yet
        // (so the join ends at part i + 3).
        let joined = |parts: &[(u8, u32)], len: usize, i: usize| {
            if i + 3 < len {
                self.pair_rank(&piece[parts[i].0 as usize..parts[i + 3].0 as usize])
            } else {
                NONE
            }
        };
        while min.0 != NONE {
            let i = min.1;
            if i > 0 {
                parts[i - 1].1 = joined(&parts, len, i - 1);
            }
            parts[i].1 = joined(&parts, len, i);
            parts.copy_within(i + 2..len, i + 1);
            len -= 1;

            min = (NONE, usize::MAX);
            for (i, &(_, rank)) in parts[..len - 1].iter().enumerate() {
                if rank < min.0 {
                    min = (rank, i);
                }
            }
        }
        len - 1
    }

    /// tiktoken's `_byte_pair_merge_large` for long pieces: the same merges in the same
    /// order, found with a heap instead of a scan.
    fn merge_large(&self, piece: &[u8]) -> usize {
        #[derive(PartialEq, Eq)]
        struct Merge {
            start: usize,
            rank: u32,
        }
        impl Ord for Merge {
            // The heap pops the lowest rank first, then the leftmost start.
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                other
                    .rank
                    .cmp(&self.rank)
                    .then_with(|| other.start.cmp(&self.start))
            }
        }
        impl PartialOrd for Merge {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        struct State {
            prev: usize,
            end: usize,
            next_end: usize,
            next_rank: u32,
        }

        let n = piece.len();
        let mut state = Vec::with_capacity(n);
        state.push(State {
            prev: usize::MAX,
            end: 1,
            next_end: 2,
            next_rank: NONE,
        });
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            let rank = self.pair_rank(&piece[i..i + 2]);
            if rank != NONE {
                heap.push(Merge { start: i, rank });
                state[i].next_rank = rank;
            }
            state.push(State {
                prev: i,
                end: i + 2,
                next_end: i + 3,
                next_rank: NONE,
            });
        }

        let potential_merge =
            |state: &mut [State], heap: &mut BinaryHeap<Merge>, start: usize, next_end: usize| {
                state[start].next_end = next_end;
                state[start].next_rank = NONE;
                if next_end <= n {
                    let rank = self.pair_rank(&piece[start..next_end]);
                    if rank != NONE {
                        heap.push(Merge { start, rank });
                        state[start].next_rank = rank;
                    }
                }
            };

        while let Some(left) = heap.pop() {
            if left.rank != state[left.start].next_rank {
                continue; // invalidated by an earlier merge
            }
            let left_start = left.start;
            let right_start = state[left_start].end;
            let right_end = state[left_start].next_end;
            let right_next_end = state[right_start].next_end;

            state[left_start].end = right_end;
            potential_merge(&mut state, &mut heap, left_start, right_next_end);
            if right_end < state.len() {
                state[right_end].prev = left_start;
            }
            if left_start > 0 {
                let prev_start = state[left_start].prev;
                potential_merge(&mut state, &mut heap, prev_start, right_end);
            }
            state[right_start].next_rank = NONE;
        }

        let mut count = 0;
        let mut i = 0;
        while i < n {
            count += 1;
            i = state[i].end;
        }
        count
    }
}

/// `text` pre-tokenised: the pieces tiktoken's `o200k_base` pattern finds, in order.
///
/// Every character starts a match of the pattern (a letter or mark the first two
/// alternatives, a number the third, whitespace the fifth or the last, anything else the
/// fourth), so tiktoken's pieces tile the text and each one starts where the last ended: an
/// anchored forward search finds its end.
struct Pieces<'a, 't> {
    tokenizer: &'a O200kBase,
    cache: &'a mut Cache,
    text: &'t str,
    at: usize,
}

impl<'a, 't> Pieces<'a, 't> {
    fn new(tokenizer: &'a O200kBase, cache: &'a mut Cache, text: &'t str) -> Self {
        Pieces {
            tokenizer,
            cache,
            text,
            at: 0,
        }
    }
}

impl<'t> Iterator for Pieces<'_, 't> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        let (text, start) = (self.text, self.at);
        if start >= text.len() {
            return None;
        }
        let input = Input::new(text).range(start..).anchored(Anchored::Yes);
        let found = self.tokenizer.dfa.try_search_fwd(self.cache, &input);
        let mut end = match found {
            Ok(Some(end)) if end.offset() > start => end.offset(),
            // Cannot happen (see above; the lazy DFA never gives up as configured), but if
            // it did, the rest of the text would be one piece.
            _ => text.len(),
        };
        // `\s+(?!\S)`: a run of two or more whitespace characters followed by text loses its
        // last character, which then starts the next piece. A match is a `\s+` run exactly
        // when it ends in whitespace other than a line break (every other alternative ends
        // in a letter, mark, number, symbol, `/` or line break).
        if end < text.len()
            && let Some(last) = text[start..end].chars().next_back()
            && last.is_whitespace()
            && last != '\r'
            && last != '\n'
            && end - start > last.len_utf8()
        {
            end -= last.len_utf8();
        }
        self.at = end;
        Some(&text[start..end])
    }
}

/// A fast multiplicative hash of a token's bytes (8 at a time); the slot comes from its top
/// bits, so every input bit reaches it.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;
    use tiktoken_rs::CoreBPE;

    const REQUESTS: [&str; 2] = [
        include_str!("../../tests/fixtures/claude-code/2.1.197-first-request.json"),
        include_str!("../../tests/fixtures/claude-code/2.1.332-first-request.json"),
    ];

    fn tiktoken() -> &'static CoreBPE {
        tiktoken_rs::o200k_base_singleton()
    }

    fn tiktoken_split() -> &'static fancy_regex::Regex {
        static SPLIT: OnceLock<fancy_regex::Regex> = OnceLock::new();
        SPLIT.get_or_init(|| fancy_regex::Regex::new(tiktoken_rs::O200K_BASE_PAT_STR).unwrap())
    }

    /// Our pieces and count of `text` are tiktoken's.
    fn assert_same(text: &str) {
        let ours: Vec<String> = o200k_base().with_cache(|cache| {
            Pieces::new(o200k_base(), cache, text)
                .map(str::to_owned)
                .collect()
        });
        let theirs: Vec<String> = tiktoken_split()
            .find_iter(text)
            .map(|m| m.unwrap().as_str().to_owned())
            .collect();
        assert_eq!(ours, theirs, "pieces of {text:?}");
        assert_eq!(
            o200k_base().count(text),
            tiktoken().encode_ordinary(text).len(),
            "count of {text:?}"
        );
    }

    #[test]
    fn the_embedded_table_is_tiktokens_o200k_base() {
        let ours = o200k_base();
        assert_eq!(ours.lengths.len(), 199_998);
        let mut probes = 0;
        for rank in 0..199_998u32 {
            let token = ours.token(rank);
            assert_eq!(tiktoken().decode_bytes(&[rank]).unwrap(), token, "{rank}");
            assert_eq!(ours.rank(token), Some(rank));
            let (home, _) = ours.position(token);
            let mut i = home;
            while ours.slots[i] & RANK_MASK != rank {
                i = (i + 1) & (ours.slots.len() - 1);
                probes += 1;
            }
        }
        // Tiktoken's merge relies on every single byte being a token.
        assert!((0..=255u8).all(|b| ours.rank(&[b]).is_some()));
        assert_eq!(ours.rank(b"not a token at all, surely"), None);
        println!("extra probes per token: {:.2}", probes as f64 / 199_998.0);
    }

    #[test]
    fn the_pattern_is_tiktokens_without_the_lookahead() {
        assert_eq!(
            tiktoken_rs::O200K_BASE_PAT_STR.replace(r"|\s+(?!\S)|\s+", r"|\s+"),
            PATTERN
        );
    }

    /// The fix-up after a `\s+` match tells whitespace with `char::is_whitespace`; the
    /// pattern's `\s` is the same set.
    #[test]
    fn char_whitespace_is_the_patterns_whitespace() {
        let all: String = (0..=char::MAX as u32).filter_map(char::from_u32).collect();
        let pattern: Vec<char> = fancy_regex::Regex::new(r"\s")
            .unwrap()
            .find_iter(&all)
            .flat_map(|m| m.unwrap().as_str().chars())
            .collect();
        let std: Vec<char> = all.chars().filter(|c| c.is_whitespace()).collect();
        assert_eq!(pattern, std);
    }

    #[test]
    fn malformed_tables_are_refused() {
        assert!(O200kBase::new(b"").is_err());
        assert!(O200kBase::new(&[0, 0, 0, 0]).is_err());
        assert!(O200kBase::new(&[2, 0, 0, 0, 1]).is_err());
        assert!(O200kBase::new(&[2, 0, 0, 0, 1, 1, b'a']).is_err());
        assert!(O200kBase::new(&[2, 0, 0, 0, 1, 1, b'a', b'a']).is_err());
        assert!(O200kBase::new(&[2, 0, 0, 0, 1, 0, b'a']).is_err());
        let tiny = O200kBase::new(&[3, 0, 0, 0, 1, 1, 2, b'a', b'b', b'a', b'b']).unwrap();
        assert_eq!(tiny.rank(b"ab"), Some(2));
        assert_eq!(tiny.count("abab"), 2);
    }

    #[test]
    fn claude_code_requests_count_the_same() {
        fn walk(value: &Value, texts: &mut Vec<String>) {
            match value {
                Value::String(s) => texts.push(s.clone()),
                Value::Array(items) => {
                    texts.push(value.to_string());
                    items.iter().for_each(|v| walk(v, texts));
                }
                Value::Object(map) => {
                    texts.push(value.to_string());
                    for (key, v) in map {
                        texts.push(key.clone());
                        walk(v, texts);
                    }
                }
                _ => texts.push(value.to_string()),
            }
        }
        let mut texts = Vec::new();
        for request in REQUESTS {
            texts.push(request.to_owned());
            walk(&serde_json::from_str(request).unwrap(), &mut texts);
        }
        texts.sort_unstable();
        texts.dedup();
        let bytes: usize = texts.iter().map(String::len).sum();
        assert!(
            texts.len() > 500 && bytes > 500_000,
            "{} {bytes}",
            texts.len()
        );
        for text in &texts {
            assert_same(text);
        }
    }

    #[test]
    fn code_counts_the_same() {
        let samples = [
            "fn main() {\n    let xs: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!(\"{xs:?}\");\n}\n",
            "def f(x):\n\tif x > 0:\n\t\treturn x ** 2  # square\n\treturn -x\n\n\nclass A(B): pass\n",
            "const f = async (a, b) => { await fetch(`/api/${a}?b=${b}`); return a ?? b; };\r\n",
            "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"héllo\")\n}\n",
            "#include <stdio.h>\nint main(void){printf(\"%d\\n\", 1<<3);return 0;}",
            "#!/bin/sh\nset -euo pipefail\nfor f in *.rs; do grep -n 'TODO' \"$f\" || true; done\n",
            "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 10;",
            "<div class=\"a\"><p>Hello &amp; welcome</p><!-- c --></div>\n<br/>",
            "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\"}},\"required\":[\"command\"]}",
            "    \n        indented\n\n\n    \t  \r\n  trailing   ",
            "https://example.com/a/b?c=d&e=f#g ~/.config/anyclaude/config.toml C:\\Users\\x",
            "ÀÉÎÕÜ àéîõü ÇçÑñ ẞß ǅǈǋ Ǳ",
        ];
        for text in samples {
            assert_same(text);
        }
    }

    #[test]
    fn unicode_counts_the_same() {
        let samples = [
            "漢字とひらがなとカタカナ、한국어 텍스트, 中文文本没有空格但是很长很长很长很长很长很长很长很长很长很长很长很长很长很长很长很长很长很长。",
            "😀😃😄 👩‍👩‍👧‍👦 👍🏽 🇫🇷🇯🇵 ❤️‍🔥 🧑🏿‍💻",
            "e\u{301}te\u{301} n\u{303}o a\u{30a}\u{301}\u{327} \u{301}\u{301}leading marks Z\u{351}\u{36b}\u{343}\u{36a}a\u{302}l\u{352}go",
            "مرحبا بالعالم، كيف حالك؟ שלום עולם! \u{200f}mixed\u{200e} عربي123",
            "नमस्ते दुनिया ภาษาไทยไม่มีช่องว่าง Ελληνικά Русский текст ÅSTRÖM",
            "\u{feff}bom \u{200b}zero\u{200b}width \u{2028}line\u{2029}para \u{85}nel",
            "\u{0}\u{1}\u{7f} control \u{1b}[31mred\u{1b}[0m",
            "ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ　１２３ ㈱ ﬁ ﬂ",
        ];
        for text in samples {
            assert_same(text);
        }
    }

    #[test]
    fn whitespace_numbers_and_contractions_count_the_same() {
        let spaces = [
            " ", "  ", "\t", "\n", "\r\n", "\u{a0}", "\u{3000}", "\u{2009}", "\x0b", "\x0c",
        ];
        for a in spaces {
            for b in spaces {
                for n in [1, 2, 3, 7] {
                    let run = format!("{}{b}", a.repeat(n));
                    for text in [
                        run.clone(),
                        format!("x{run}"),
                        format!("{run}x"),
                        format!("x{run}y"),
                        format!("x{run}!"),
                        format!("1{run}2"),
                        format!("é{run}\u{301}"),
                    ] {
                        assert_same(&text);
                    }
                }
            }
        }
        for text in [
            "0 7 42 123 1234 12345 1234567890 3.14159 -2.5e-10 1,000,000 0x1F 1_000",
            "٠١٢٣٤٥٦٧٨٩ ۱۲۳ १२३ ⅫⅣ ²³ ½¾ ① 𝟙𝟚𝟛",
            "2024-01-01T12:34:56Z v1.2.3 192.168.0.1:8080 $19.99 50% #1",
        ] {
            assert_same(text);
        }
        let mut contractions = String::new();
        for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
            for s in [suffix.to_owned(), suffix.to_uppercase(), {
                let mut c = suffix.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }] {
                for word in ["it", "IT", "I", "we", "They", "o", "x1", ""] {
                    for quote in ["'", "’"] {
                        contractions
                            .push_str(&format!("{word}{quote}{s} {word}{quote}{s}x {quote}{s}\n"));
                    }
                }
            }
        }
        assert_same(&contractions);
        for line in contractions.lines() {
            assert_same(line);
        }
    }

    /// Pieces of 100 bytes and more take tiktoken's heap merge.
    #[test]
    fn long_pieces_count_the_same() {
        for text in [
            "a".repeat(150),
            "ab".repeat(300),
            "-".repeat(300),
            "=".repeat(1000) + "\n",
            "😀".repeat(40),
            "Pneumonoultramicroscopicsilicovolcanoconiosis".repeat(5),
            "漢字".repeat(100),
            "ThisIsAVeryLongCamelCaseIdentifierThatKeepsGoingAndGoingWithoutSpaces".repeat(3),
            " ".repeat(500) + "x",
            "\t".repeat(200),
            "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQgZW5jb2RlZCB0ZXh0IGZvciB0ZXN0aW5n".repeat(4),
        ] {
            assert_same(&text);
        }
    }

    fn fragments() -> impl Strategy<Value = String> {
        let fragment = prop::sample::select(vec![
            "the",
            "The",
            "THE",
            "quick",
            "fn",
            "x",
            "é",
            "e\u{301}",
            "\u{301}",
            "漢字",
            "カタ",
            "😀",
            "👩‍👧",
            "🇫🇷",
            "مرحبا",
            "שלום",
            "1",
            "12",
            "123",
            "1234",
            "٣",
            "Ⅻ",
            "'s",
            "'S",
            "'t",
            "'re",
            "'VE",
            "'m",
            "'ll",
            "'D",
            "’s",
            "'",
            " ",
            "  ",
            "   ",
            "\t",
            "\n",
            "\r\n",
            "\n\n",
            " \n",
            "\u{a0}",
            "\u{3000}",
            ".",
            ",",
            "!",
            "?",
            "/",
            "//",
            "{",
            "}",
            "(",
            ")",
            "\"",
            "-",
            "_",
            "=",
            "==",
            "::",
            "->",
            "<",
            ">",
            "#",
            "@",
            "$",
            "%",
            "\\",
            "`",
            "*",
            "~",
            "\u{0}",
            "\u{200b}",
            "\u{feff}",
            "ǅ",
            "ß",
            "İ",
            "ﬁ",
        ]);
        prop::collection::vec(fragment, 0..60).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn arbitrary_strings_count_the_same(text in any::<String>()) {
            assert_same(&text);
        }

        #[test]
        fn mixed_fragments_count_the_same(text in fragments()) {
            assert_same(&text);
        }

        /// Long single pieces, where ties between equal pairs decide the heap merge.
        #[test]
        fn long_runs_count_the_same(
            text in "[a-d]{100,400}|[a-zA-Z]{100,300}|[-=_*#~]{100,300}|(ab|ba|aa|th|e|in){50,150}|[一二三人大]{40,120}"
        ) {
            assert_same(&text);
        }

        /// Both merges agree wherever both apply.
        #[test]
        fn small_and_large_merges_agree(text in "[a-e]{1,99}|[-=_*#~]{1,99}|\\PC{1,30}") {
            let ours = o200k_base();
            prop_assert_eq!(ours.merge_small(text.as_bytes()), ours.merge_large(text.as_bytes()));
        }

        #[test]
        fn ascii_soup_counts_the_same(text in "[a-zA-Z0-9 \t\r\n'.,;:!?/_(){}\\[\\]<>=+*&^%$#@~`|\\\\\"-]{0,300}") {
            assert_same(&text);
        }
    }
}
