//! Fuzzing of every parser that takes input from outside: the CAP 1.2 and
//! JSON emergency feeds, the Open311 POST form, and GraphQL documents with
//! their variables run against the real schema and store.
//!
//! Each target is driven three ways: every file of its corpus under
//! `tests/fuzz-corpus/` is replayed; random inputs are generated (shaped like
//! the format, so they get past the first byte); and corpus files are mutated
//! (bit flips, overwrites, cuts, deletions, duplications, dictionary tokens,
//! splices of two files). Whatever comes in, nothing panics, and the answer is
//! either a value that holds the format's invariants or a clean error.
//!
//! The default case counts keep the whole file well under a minute in a debug
//! build; the long form raises them for every property at once:
//!
//! ```text
//! KONTAKT_FUZZ_CASES=100000 cargo test --release -p kontakt-tests --test fuzz
//! ```
//!
//! A failing case is shrunk by proptest and its seed appended to
//! `tests/tests/fuzz.proptest-regressions`, which every run replays first;
//! check that file in, and add the shrunk input to the corpus (see
//! `tests/fuzz-corpus/README.md`).

#[path = "fuzz/feed_docs.rs"]
mod feed_docs;
#[path = "fuzz/feeds.rs"]
mod feeds;
#[path = "fuzz/graphql.rs"]
mod graphql;
#[path = "fuzz/graphql_ops.rs"]
mod graphql_ops;
#[path = "fuzz/open311.rs"]
mod open311;

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::Value;

/// Cases per property: `KONTAKT_FUZZ_CASES`, or `default`.
fn cases(default: u32) -> u32 {
    std::env::var("KONTAKT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `test` on `cases` values of `strategy`, shrinking and saving any failure.
fn fuzz<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases,
        max_shrink_iters: 2048,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        source_file: Some(file!()),
        ..Config::default()
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{e}");
    }
}

/// The files of `tests/fuzz-corpus/<target>`, sorted by name, with their names.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus").join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

/// One edit of an input. Positions are taken modulo the input's length, so
/// every edit applies to every input and shrinks toward the start.
#[derive(Debug, Clone)]
enum Edit {
    /// Flips one bit.
    Flip { at: usize, bit: u8 },
    /// Overwrites one byte.
    Set { at: usize, byte: u8 },
    /// Keeps only what comes before `at`.
    Cut { at: usize },
    /// Removes up to `len` bytes.
    Delete { at: usize, len: usize },
    /// Repeats up to `len` bytes in place.
    Repeat { at: usize, len: usize, times: usize },
    /// Inserts a token of the target's dictionary.
    Token { at: usize, token: usize },
    /// Inserts part of another corpus file.
    Splice { at: usize, file: usize, from: usize, len: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        1 => (at, 0..8u8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        1 => (at, any::<u8>()).prop_map(|(at, byte)| Edit::Set { at, byte }),
        1 => at.prop_map(|at| Edit::Cut { at }),
        1 => (at, 1..64usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        1 => (at, 1..64usize, 1..16usize).prop_map(|(at, len, times)| Edit::Repeat { at, len, times }),
        3 => (at, any::<usize>()).prop_map(|(at, token)| Edit::Token { at, token }),
        1 => (at, any::<usize>(), any::<usize>(), 1..256usize)
            .prop_map(|(at, file, from, len)| Edit::Splice { at, file, from, len }),
    ]
}

/// A corpus file (by index, modulo the corpus) and `edits` edits made to it.
fn mutation(edits: std::ops::Range<usize>) -> impl Strategy<Value = (usize, Vec<Edit>)> {
    (any::<usize>(), proptest::collection::vec(edit(), edits))
}

/// Most bytes a mutated input may grow to.
const MAX_MUTANT: usize = 32 * 1024;

/// Applies `edits` to `corpus[file]`, drawing tokens from `dictionary`.
fn mutate(corpus: &[(String, Vec<u8>)], dictionary: &[&str], (file, edits): &(usize, Vec<Edit>)) -> Vec<u8> {
    let mut bytes = corpus[file % corpus.len()].1.clone();
    let pos = |at: usize, len: usize| at % (len + 1);
    for e in edits {
        let len = bytes.len();
        match *e {
            Edit::Flip { at, bit } if len > 0 => bytes[at % len] ^= 1 << bit,
            Edit::Set { at, byte } if len > 0 => bytes[at % len] = byte,
            Edit::Flip { .. } | Edit::Set { .. } => {}
            Edit::Cut { at } => bytes.truncate(pos(at, len)),
            Edit::Delete { at, len: n } => {
                let start = pos(at, len);
                bytes.drain(start..(start + n).min(len));
            }
            Edit::Repeat { at, len: n, times } => {
                let start = pos(at, len);
                let piece = bytes[start..(start + n).min(len)].to_vec();
                let tail = bytes.split_off(start);
                bytes.extend(piece.iter().cycle().take(piece.len() * times));
                bytes.extend(tail);
            }
            Edit::Token { at, token } => {
                let token = dictionary[token % dictionary.len()].as_bytes();
                let start = pos(at, len);
                bytes.splice(start..start, token.iter().copied());
            }
            Edit::Splice { at, file, from, len: n } => {
                let other = &corpus[file % corpus.len()].1;
                let from = pos(from, other.len());
                let piece = &other[from..(from + n).min(other.len())];
                let start = pos(at, len);
                bytes.splice(start..start, piece.iter().copied());
            }
        }
        bytes.truncate(MAX_MUTANT);
    }
    bytes
}

/// A JSON value of any shape, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
