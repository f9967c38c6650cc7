//! The directory a [`SledStore`](super::SledStore) lives in: which ones this process holds open,
//! and what a failure to open one means for the person running the app.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The directories that stores of this process hold open, by canonical path.
///
/// sled refuses a directory that is open already, in this process or in another, and says only
/// that it could not take a lock. Knowing which directories this process holds lets the error
/// tell the two cases apart, and the first is nearly always a store opened inside the closure
/// given to `HttpServer::new`.
static OPEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn open_directories() -> MutexGuard<'static, Vec<PathBuf>> {
    OPEN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks a directory as held by a store of this process until dropped. Drop it after the
/// database, so that the mark outlives the lock.
pub(super) struct Claim(PathBuf);

impl Claim {
    /// Marks `path`, which a store has just opened.
    pub(super) fn new(path: &Path) -> Self {
        let path = identity(path);
        open_directories().push(path.clone());
        Self(path)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut open = open_directories();
        if let Some(at) = open.iter().position(|path| *path == self.0) {
            open.swap_remove(at);
        }
    }
}

/// Whether a store of this process holds the directory `path`.
pub(super) fn is_open_here(path: &Path) -> bool {
    open_directories().contains(&identity(path))
}

/// The name by which the registry knows `path`: canonical where the directory exists, so that
/// two spellings of one directory match.
fn identity(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Why a sled directory could not be opened, in words that say how to fix it.
///
/// The message carries the cause itself, rather than through `source`, because it is read where
/// it surfaces: printed by `unwrap`, or by `main` returning it, which show only this error.
pub(super) enum OpenError {
    /// Another store holds the directory: a store of this process, or another process.
    InUse {
        path: PathBuf,
        in_this_process: bool,
    },
    /// The directory could not be created, read or written.
    Unusable { path: PathBuf, cause: io::Error },
    /// sled could not open the database in it: a damaged database, or settings that it refuses.
    Database { path: PathBuf, cause: sled::Error },
}

impl OpenError {
    /// The directory `path` could not be created, read or written: `cause` says why.
    pub(super) fn unusable(path: &Path, cause: io::Error) -> Self {
        Self::Unusable {
            path: path.to_path_buf(),
            cause,
        }
    }

    /// What `cause`, from opening `path` with sled, means.
    pub(super) fn new(path: &Path, cause: sled::Error) -> Self {
        let path = path.to_path_buf();
        match cause {
            sled::Error::Io(cause) if is_lock_failure(&cause) => {
                let in_this_process = is_open_here(&path);
                Self::InUse {
                    path,
                    in_this_process,
                }
            }
            sled::Error::Io(cause) => Self::Unusable { path, cause },
            cause => Self::Database { path, cause },
        }
    }
}

/// Whether sled failed to take the lock on its database file. sled 0.34 reports that as an
/// error of kind `Other` that keeps the lock's own error only as text, so the text is all there
/// is to go by.
fn is_lock_failure(cause: &io::Error) -> bool {
    cause.kind() == io::ErrorKind::Other
        && cause.to_string().starts_with("could not acquire lock on ")
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InUse {
                path,
                in_this_process: true,
            } => write!(
                f,
                "the sled directory {path:?} is already open in this process: open the SledStore \
                 once, before `HttpServer::new`, and move clones of it into the closure, which \
                 runs once per worker (clones share one database)"
            ),
            Self::InUse {
                path,
                in_this_process: false,
            } => write!(
                f,
                "the sled directory {path:?} is already open in another process: stop that \
                 process, or give this one a directory of its own. Within one process, open the \
                 SledStore once, before `HttpServer::new`, and clone it into the closure"
            ),
            Self::Unusable { path, cause } => write!(
                f,
                "could not open the sled directory {path:?}: {cause}. The app needs a directory \
                 it can create, read and write, on a disk with free space"
            ),
            Self::Database { path, cause } => {
                write!(f, "could not open the sled database in {path:?}: {cause}")
            }
        }
    }
}

/// The message itself, so that `unwrap` and `expect` print how to fix the app.
impl fmt::Debug for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for OpenError {}
