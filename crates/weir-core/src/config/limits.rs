//! The bounds every job text is checked against before the HOCON library resolves it.
//!
//! Job text reaches the master from anyone who can call `SubmitJob`, and the HOCON library
//! (hocon-parser) recurses once per nesting level, copies objects on every merge of a dotted
//! key and expands `${...}` substitutions without a size limit: unchecked, 1 KiB of dotted
//! keys overflows the stack (an abort, not an error), a few keys sharing a deep prefix take
//! minutes, and 22 lines of `a = ${a}${a}` take gigabytes. Each bound below is checked on the
//! tokens, on the syntax tree or on an upper bound computed from it — never by running the
//! expensive step — and each refusal names the limit and its value. Their values are set so
//! that the worst text within all of them parses in well under a second.
//!
//! Real job files are far inside them: a few KiB, under 10 levels, under 200 keys and rarely
//! a substitution.

use std::time::Duration;

/// Largest job text, in bytes (the whole file, and all files it includes together).
pub const MAX_TEXT_BYTES: u64 = 4 << 20;

/// Deepest nesting: object and array levels and the segments of dotted keys counted
/// together (`a.b { c = [1] }` reaches depth 4), in the text and after substitution.
pub const MAX_DEPTH: usize = 64;

/// Most keys in a document, counting each segment of a dotted key (`a.b.c = 1` is 3).
pub const MAX_KEYS: usize = 10_000;

/// Most tokens in a text (keys, values, punctuation), estimated before tokenizing.
pub const MAX_TOKENS: usize = 100_000;

/// Most syntax-tree nodes of values (scalars, lists, objects, substitutions and the
/// whitespace between concatenated values).
pub const MAX_VALUE_NODES: usize = 100_000;

/// Most `${...}` substitutions in a document (`a += x` counts as one).
pub const MAX_SUBSTITUTIONS: usize = 256;

/// Most bytes substitution may copy, bounded from above before anything is substituted: each
/// `${path}` counts the size of the value it copies, and again every copy made while that
/// value is itself substituted. The document after substitution is therefore at most
/// [`MAX_TEXT_BYTES`] plus this, and its resolution time (the HOCON library copies at a few
/// MiB/s in a debug build) well under a second.
pub const MAX_SUBSTITUTED_BYTES: u64 = 1 << 20;

/// Most rounds of the substitution bound; substitutions that refer forward to each other in
/// a longer chain (or in a cycle) are refused as unboundable.
pub const MAX_BOUND_ROUNDS: usize = 16;

/// Most files a job file may include, directly or through other included files.
pub const MAX_INCLUDES: usize = 64;

/// How long the master waits for a submitted job text to be parsed before it refuses it.
/// The limits above keep parses far shorter; this bounds what they do not foresee.
pub const PARSE_TIME_LIMIT: Duration = Duration::from_secs(5);

/// How many submitted job texts the master parses at once; further submissions wait (within
/// [`PARSE_TIME_LIMIT`]). A parse that overran its time limit keeps its slot until it ends, so
/// slow texts cannot pile up threads.
pub const MAX_CONCURRENT_PARSES: usize = 2;

/// Stack of the thread every parse runs on: far more than the bounded recursion of the HOCON
/// library needs at [`MAX_DEPTH`], whatever the caller's own stack (a spawned thread gets
/// 2 MiB by default). Pages are only touched as they are used.
pub const PARSE_STACK_BYTES: usize = 64 << 20;

/// `bytes` as the limits above are written: `4 MiB`, `512 KiB` or `100 bytes`.
pub(crate) fn describe_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_described_in_their_unit() {
        assert_eq!(describe_bytes(MAX_TEXT_BYTES), "4 MiB");
        assert_eq!(describe_bytes(MAX_SUBSTITUTED_BYTES), "1 MiB");
        assert_eq!(describe_bytes(2048), "2 KiB");
        assert_eq!(describe_bytes(1536), "1536 bytes");
    }
}
