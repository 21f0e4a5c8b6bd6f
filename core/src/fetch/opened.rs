//! What opening a download source gives: the bytes from an offset on, or a failure that says
//! whether retrying could help. Shared by the sources ([`super::source`]) and the HTTP client
//! ([`super::http`]) that opens URL sources, so neither needs the other's types.

use std::io::Read;

/// Why a source could not deliver.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be made at all (no network, an unknown host, a refused port), or a
    /// mirror folder lacks the file: not worth waiting for, and a host is not tried again in
    /// this run.
    Unreachable(anyhow::Error),
    /// Worth retrying after a pause: a dropped connection, a timeout, a 5xx or 429.
    Transient(anyhow::Error),
    /// Not worth retrying here: a 404, a missing mirror file, a size that disagrees with the
    /// registry. The next source may still have it.
    Permanent(anyhow::Error),
}

impl Failure {
    /// The underlying error.
    pub fn into_error(self) -> anyhow::Error {
        match self {
            Failure::Unreachable(e) | Failure::Transient(e) | Failure::Permanent(e) => e,
        }
    }
}

/// An open source, positioned at `offset`.
pub struct Opened {
    /// The remaining bytes, from `offset` on.
    pub reader: Box<dyn Read>,
    /// Where the reader starts: the offset asked for, or 0 when a server ignored the range.
    pub offset: u64,
    /// The full size the source announces, if it does.
    pub total: Option<u64>,
}
