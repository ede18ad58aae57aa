//! The store's one error type.

/// Why a store operation failed. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A precondition on a record's version did not hold.
    #[error("conflict on record {key}: expected {expected}, found {found}")]
    Conflict {
        /// The record, printed.
        key: String,
        /// What the writer expected.
        expected: String,
        /// What the store holds.
        found: String,
    },
    /// The transaction itself is malformed (the same record twice, a key too long).
    #[error("invalid transaction: {0}")]
    Invalid(String),
    /// The data directory holds something that is not a Kontakt store of this format.
    #[error("{0}")]
    Format(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt store entry: {0}")]
    Corrupt(String),
    /// The underlying engine failed (I/O, disk full, the database unreachable).
    #[error("storage engine: {0}")]
    Engine(String),
    /// The database cannot be reached now (a shared engine): nothing was
    /// written, or, when the connection broke during the commit, the change
    /// may have been saved; the caller checks before retrying.
    #[error("the store cannot be reached: {0}")]
    Unavailable(String),
    /// The transaction's lease was lost (another node holds it now).
    #[error("fenced: {0}")]
    Fenced(String),
    /// An error raised by a caller's transaction builder.
    #[error("{0}")]
    Aborted(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}
