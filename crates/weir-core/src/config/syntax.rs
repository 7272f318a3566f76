//! Job text → tokens → syntax tree, with the limits that must hold before the HOCON library
//! parses anything: the text's size, and the nesting of its braces and brackets.

use std::borrow::Cow;
use std::sync::Arc;

use hocon::parser::AstNode;
use hocon::{HoconError, Token, TokenKind};

use super::dotted_keys::quote_scalar_prefixed_keys;
use super::error::{ConfigError, Location};
use super::limits::{MAX_DEPTH, MAX_TEXT_BYTES, MAX_TOKENS, describe_bytes};

/// One file's text, tokenized, with SeaTunnel's scalar-prefixed keys quoted
/// ([`quote_scalar_prefixed_keys`]).
pub(crate) struct SourceText<'t> {
    pub origin: Arc<str>,
    text: Cow<'t, str>,
    tokens: Vec<Token>,
}

impl<'t> SourceText<'t> {
    /// Checks `text`'s size and nesting and tokenizes it.
    pub(crate) fn tokenize(text: &'t str, origin: Arc<str>) -> Result<Self, ConfigError> {
        let at = |line: Option<usize>| Location {
            origin: origin.clone(),
            line: line.and_then(|line| u32::try_from(line).ok()),
            column: None,
        };
        if text.len() as u64 > MAX_TEXT_BYTES {
            return Err(ConfigError::Limit {
                at: at(None),
                message: format!(
                    "the job text is {} bytes, more than the limit of {}",
                    text.len(),
                    describe_bytes(MAX_TEXT_BYTES)
                ),
            });
        }
        // Tokenizing 4 MiB of one-character tokens takes seconds: estimate first.
        let tokens = estimated_tokens(text);
        if tokens > MAX_TOKENS {
            return Err(ConfigError::Limit {
                at: at(None),
                message: format!(
                    "the job text has about {tokens} tokens (keys, values and punctuation), \
                     more than the limit of {MAX_TOKENS}"
                ),
            });
        }
        let tokenize =
            |text: &str| hocon::tokenize(text).map_err(|error| hocon_error(&origin, error.into()));
        let mut tokens = tokenize(text)?;
        let text = quote_scalar_prefixed_keys(text, &tokens);
        if matches!(text, Cow::Owned(_)) {
            tokens = tokenize(&text)?;
        }
        // The HOCON parser recurses once per brace or bracket.
        let mut depth = 0usize;
        for token in &tokens {
            match token.kind {
                TokenKind::LBrace | TokenKind::LBracket => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(ConfigError::Limit {
                            at: at(Some(token.line)),
                            message: format!(
                                "braces and brackets nest more than {MAX_DEPTH} levels deep \
                                 (the limit)"
                            ),
                        });
                    }
                }
                TokenKind::RBrace | TokenKind::RBracket => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(SourceText {
            origin,
            text,
            tokens,
        })
    }

    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    pub(crate) fn text_len(&self) -> usize {
        self.text.len()
    }
}

/// An upper estimate of the tokens of `text`: its punctuation and newlines, and its runs of
/// other non-blank characters (a quoted string with blanks counts once per word).
fn estimated_tokens(text: &str) -> usize {
    let mut count = 0;
    let mut in_run = false;
    for byte in text.bytes() {
        match byte {
            b'{' | b'}' | b'[' | b']' | b',' | b':' | b'=' | b'\n' => {
                count += 1;
                in_run = false;
            }
            b' ' | b'\t' | b'\r' => in_run = false,
            _ if !in_run => {
                count += 1;
                in_run = true;
            }
            _ => {}
        }
    }
    count
}

/// The syntax tree of `source`.
pub(crate) fn parse(source: &SourceText<'_>) -> Result<AstNode, ConfigError> {
    hocon::parser::parse_tokens(&source.tokens)
        .map_err(|error| hocon_error(&source.origin, error.into()))
}

/// An error of the HOCON library as a [`ConfigError`] of `origin`.
pub(crate) fn hocon_error(origin: &Arc<str>, error: HoconError) -> ConfigError {
    let at = |line: usize, column: usize| Location {
        origin: origin.clone(),
        line: u32::try_from(line).ok().filter(|line| *line > 0),
        column: u32::try_from(column).ok().filter(|column| *column > 0),
    };
    match error {
        HoconError::Parse(parse) => ConfigError::Syntax {
            at: at(parse.line, parse.col),
            message: parse.message,
        },
        HoconError::Resolve(resolve) => ConfigError::Substitution {
            at: at(resolve.line, resolve.col),
            substitution: resolve.path,
            message: resolve.message,
        },
        other => ConfigError::Syntax {
            at: at(0, 0),
            message: other.to_string(),
        },
    }
}
