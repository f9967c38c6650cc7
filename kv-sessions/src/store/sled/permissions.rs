//! Keeps the directory of a [`SledStore`](super::SledStore) private to the user the app runs as.
//!
//! The files hold the data of every live session. sled creates them itself, with the process's
//! default mode (0644 under the usual umask), and offers no way to ask for another. What protects
//! them is the directory: nobody but its owner can enter a 0700 directory, so a file that sled
//! creates in it later (a snapshot, a blob, a new segment) is out of reach whatever its own
//! mode. The directory is therefore made 0700 before sled opens it: created so where it is
//! missing, and tightened, with a line at info level, where it exists with a wider mode. The
//! files there once sled has opened are made 0600 as well (and directories 0700), so that a copy
//! of the directory made with `cp -a` or `tar` is private too.
//!
//! The directory belongs to the store: everything in it is made private.

use std::io;
use std::path::Path;

/// The mode of the store's directory and of every directory in it.
#[cfg(unix)]
const PRIVATE_DIRECTORY: u32 = 0o700;
/// The mode of every file in the store's directory.
#[cfg(unix)]
const PRIVATE_FILE: u32 = 0o600;

/// Makes `path` a directory that only its owner can enter: creates it so where it is missing
/// (its parents, where missing too, get the usual mode), and tightens it where it is wider.
#[cfg(unix)]
pub(super) fn make_private_directory(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;

    let mut builder = std::fs::DirBuilder::new();
    builder.mode(PRIVATE_DIRECTORY);
    let created = match builder.create(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            builder.create(path)
        }
        created => created,
    };
    match created {
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {
            if restrict(path, PRIVATE_DIRECTORY)? {
                tracing::info!(
                    ?path,
                    "the session store's directory could be read by other users; it is now \
                     private to its owner (mode 0700)"
                );
            }
            Ok(())
        }
        created => created,
    }
}

/// Makes every file under `path` readable and writable by its owner alone, and every directory
/// under it enterable by its owner alone. Symbolic links are left as they are.
#[cfg(unix)]
pub(super) fn make_contents_private(path: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            restrict(&entry.path(), PRIVATE_DIRECTORY)?;
            make_contents_private(&entry.path())?;
        } else if kind.is_file() {
            restrict(&entry.path(), PRIVATE_FILE)?;
        }
    }
    Ok(())
}

/// Sets the permission bits of `path` to `mode` where they differ, and reports whether they did.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;

    let permissions = std::fs::metadata(path)?.permissions();
    if permissions.mode() & 0o7777 == mode {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(true)
}

/// Creates the directory `path` where it is missing. Outside Unix, the directory's access rules
/// are the operating system's defaults.
#[cfg(not(unix))]
pub(super) fn make_private_directory(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Nothing to do outside Unix; see [`make_private_directory`].
#[cfg(not(unix))]
pub(super) fn make_contents_private(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_missing_directory_is_created_private_and_its_parents_as_usual() {
        let dir = tempfile::tempdir().expect("temp dir");
        let parent = dir.path().join("var");
        let path = parent.join("sessions.sled");
        make_private_directory(&path).expect("create");
        assert_eq!(mode(&path), PRIVATE_DIRECTORY);
        assert_ne!(
            mode(&parent),
            PRIVATE_DIRECTORY,
            "the parent is the app's business"
        );
    }

    #[test]
    fn a_wider_directory_is_tightened() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sessions.sled");
        std::fs::create_dir(&path).expect("mkdir");
        set_mode(&path, 0o755);
        make_private_directory(&path).expect("tighten");
        assert_eq!(mode(&path), PRIVATE_DIRECTORY);
    }

    #[test]
    fn a_regular_file_in_the_way_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sessions.sled");
        std::fs::write(&path, b"").expect("write");
        let error = make_private_directory(&path).expect_err("not a directory");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn everything_inside_is_made_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("blobs");
        std::fs::create_dir(&nested).expect("mkdir");
        set_mode(&nested, 0o755);
        for file in [dir.path().join("db"), nested.join("1")] {
            std::fs::write(&file, b"x").expect("write");
            set_mode(&file, 0o644);
        }
        make_contents_private(dir.path()).expect("tighten");
        assert_eq!(mode(&nested), PRIVATE_DIRECTORY);
        assert_eq!(mode(&dir.path().join("db")), PRIVATE_FILE);
        assert_eq!(mode(&nested.join("1")), PRIVATE_FILE);
    }
}
