//! Writing a file that holds a secret: owner-only (mode 0600 on unix), never through a symbolic
//! link, and atomically (a temporary file in the same directory, flushed to disk, renamed over the
//! target), so a reader sees the old or the new content and never a half-written or
//! world-readable file, whatever was at the path before.
//!
//! Shared by the restart cache (`cache::restart`), LocalKms (ClientKey and password files) and,
//! through `#[path]`, by the `aliyun-managed-credentials` binary (`--url-file`); it is not part
//! of the public API.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `contents` to `path` as described in the module docs. Refuses a `path` that is a
/// symbolic link or exists and is not a regular file. The error names no content.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path is a symbolic link; refusing to write a secret through it",
            ));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path exists and is not a regular file",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (tmp, file) = create_temp(dir, name)?;
    let written = fill(file, contents).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // Make the rename itself durable (best effort: not every file system can sync a directory).
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new, empty, owner-only file `.{name}.{random}.tmp` in `dir`. `create_new` (`O_EXCL`) never
/// opens an existing file or follows a symbolic link planted at that name.
fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> io::Result<(std::path::PathBuf, File)> {
    let mut attempt = 0;
    loop {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
        let tmp = dir.join(tmp_name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

fn fill(mut file: File, contents: &[u8]) -> io::Result<()> {
    // The umask can only remove bits from 0600; set it exactly anyway (e.g. umask 0277).
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn new_file_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private(&path, b"s3cret\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"s3cret\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(dir.path()), ["secret"], "no temporary file left");
    }

    #[test]
    fn existing_file_is_replaced_by_a_new_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old content that is longer\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        // A second name for the old file: a rename leaves it alone, a truncating write would not.
        let other = dir.path().join("hard-link");
        std::fs::hard_link(&path, &other).unwrap();
        let old_inode = std::fs::metadata(&path).unwrap().ino();

        write_private(&path, b"new\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        assert_eq!(mode(&path), 0o600);
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), old_inode);
        assert_eq!(
            std::fs::read_to_string(&other).unwrap(),
            "old content that is longer\n"
        );
        assert_eq!(names(dir.path()), ["hard-link", "secret"]);
    }

    #[test]
    fn symbolic_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "untouched").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write_private(&link, b"secret").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());

        // A dangling link is refused too (it would otherwise create the target).
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(write_private(&dangling, b"secret").is_err());
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(names(dir.path()), ["dangling", "link", "target"]);
    }

    #[test]
    fn directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_private(dir.path(), b"secret").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
