//! Client tokens: bearer tokens in the `authorization` metadata, checked against a tokens file
//! on the master that holds only their SHA-256 hashes.
//!
//! A tokens file has one line per token, `NAME ROLE SHA256-HEX`, separated by spaces or tabs;
//! empty lines and lines starting with `#` are skipped. A token is `weir_` and 64 hex digits
//! of randomness (`weir token new`). The hash of the presented token is compared with every
//! entry in constant time, so neither the comparison nor the position of a match shows in the
//! time an answer takes. Tokens are never logged; names are.

use std::fmt;
use std::path::Path;

use ring::rand::SecureRandom as _;
use subtle::ConstantTimeEq as _;

use crate::AuthError;

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// List and show jobs and workers (job text with secret-looking values redacted).
    Viewer,
    /// Everything a viewer may, and submit, stop, cancel and restore jobs.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Self::Viewer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The prefix of every token, so a token pasted in the wrong place is recognisable.
pub const TOKEN_PREFIX: &str = "weir_";

/// One line of a tokens file.
#[derive(Clone)]
struct Entry {
    name: String,
    role: Role,
    hash: [u8; 32],
}

/// The tokens a master accepts.
#[derive(Clone)]
pub struct TokenTable {
    entries: Vec<Entry>,
}

impl fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: even hashes stay out of debug output.
        f.debug_list()
            .entries(self.entries.iter().map(|entry| (&entry.name, entry.role)))
            .finish()
    }
}

/// Why a line of a tokens file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct LineError {
    pub line: usize,
    pub problem: String,
}

/// Whether `name` may name a token: 1–64 of letters, digits, `.`, `_`, `@`, `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
}

impl TokenTable {
    /// Parses the text of a tokens file.
    pub fn parse(text: &str) -> Result<Self, LineError> {
        let mut entries: Vec<Entry> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let error = |problem: String| LineError {
                line: number,
                problem,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, hash] = fields[..] else {
                return Err(error(format!(
                    "expected `NAME ROLE SHA256-HEX`, found {} field(s)",
                    fields.len()
                )));
            };
            if !valid_name(name) {
                return Err(error(
                    "a name is 1-64 letters, digits, '.', '_', '@' or '-'".into(),
                ));
            }
            let role = Role::parse(role).ok_or_else(|| {
                error(format!(
                    "role '{role}' is neither 'admin' nor 'viewer' (for '{name}')"
                ))
            })?;
            // The hash is not the token, but a line holding a token by mistake must not be
            // echoed into a log either: say what is wrong without quoting it.
            let hash = parse_hash(hash).ok_or_else(|| {
                error(format!(
                    "the third field of '{name}' is not a SHA-256 hash (64 hex digits); \
                     the file holds hashes, never tokens: `weir token new` prints the line"
                ))
            })?;
            if entries.iter().any(|entry| entry.name == name) {
                return Err(error(format!("the name '{name}' is used twice")));
            }
            entries.push(Entry {
                name: name.to_string(),
                role,
                hash,
            });
        }
        Ok(Self { entries })
    }

    /// Reads and parses a tokens file; a file without any token is an error (nobody could
    /// call the master).
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let bytes = crate::read_small_file(path)?;
        let text = String::from_utf8(bytes).map_err(|_| AuthError::Tokens {
            path: path.to_path_buf(),
            problem: "is not UTF-8 text".into(),
        })?;
        let table = Self::parse(&text).map_err(|error| AuthError::TokensFile {
            path: path.to_path_buf(),
            line: error.line,
            problem: error.problem,
        })?;
        if table.entries.is_empty() {
            return Err(AuthError::Tokens {
                path: path.to_path_buf(),
                problem: "holds no token; add one with `weir token new`".into(),
            });
        }
        Ok(table)
    }

    /// The name and role of `token`, if the table holds its hash. Every entry is compared, in
    /// constant time, whatever matches.
    pub fn verify(&self, token: &str) -> Option<(&str, Role)> {
        let presented = sha256(token.as_bytes());
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some((entry.name.as_str(), entry.role));
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

/// The SHA-256 of a token, in hex: what its tokens-file line holds.
pub fn hash_token(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

/// A new random token: `weir_` and 32 random bytes in hex.
pub fn new_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Random)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// The tokens-file line of `token` for `name` with `role`.
pub fn tokens_file_line(name: &str, role: Role, token: &str) -> String {
    format!("{name} {role} {}", hash_token(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_verifies_through_its_line() {
        let token = new_token().expect("token");
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        assert_ne!(token, new_token().expect("token"), "tokens are random");
        let other = new_token().expect("token");
        let text = format!(
            "# tokens\n\n{}\n{}\n",
            tokens_file_line("alice", Role::Admin, &token),
            tokens_file_line("bob", Role::Viewer, &other)
        );
        let table = TokenTable::parse(&text).expect("parse");
        assert_eq!(table.len(), 2);
        assert_eq!(table.verify(&token), Some(("alice", Role::Admin)));
        assert_eq!(table.verify(&other), Some(("bob", Role::Viewer)));
        assert_eq!(table.verify("weir_nope"), None);
        assert_eq!(table.verify(""), None);
        // The hash itself is not a token.
        assert_eq!(table.verify(&hash_token(&token)), None);
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_lines_name_their_line_and_problem() {
        let hash = hash_token("x");
        let cases = [
            ("alice admin".to_string(), 1, "found 2 field(s)"),
            (
                format!("alice root {hash}"),
                1,
                "neither 'admin' nor 'viewer'",
            ),
            (format!("\nal ice admin {hash}"), 2, "found 4 field(s)"),
            ("alice admin weir_abc".to_string(), 1, "not a SHA-256 hash"),
            (format!("a/b admin {hash}"), 1, "a name is"),
            (
                format!("alice admin {hash}\nalice viewer {hash}"),
                2,
                "used twice",
            ),
        ];
        for (text, line, needle) in cases {
            let error = TokenTable::parse(&text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} parsed"));
            assert_eq!(error.line, line, "{text:?}: {error}");
            assert!(error.problem.contains(needle), "{text:?}: {error}");
            assert!(!error.to_string().contains("weir_abc"), "token echoed");
        }
    }

    #[test]
    fn role_table() {
        assert!(Role::Admin.allows(Role::Admin));
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(Role::Viewer.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Admin));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn an_empty_tokens_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# nobody yet\n").expect("write");
        let error = TokenTable::load(&path).expect_err("empty");
        assert!(error.to_string().contains("holds no token"), "{error}");
    }

    #[test]
    fn debug_output_shows_names_only() {
        let token = new_token().expect("token");
        let table =
            TokenTable::parse(&tokens_file_line("alice", Role::Admin, &token)).expect("parse");
        let debug = format!("{table:?}");
        assert!(debug.contains("alice"));
        assert!(!debug.contains(&hash_token(&token)) && !debug.contains(&token));
    }
}
