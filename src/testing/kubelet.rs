//! [`KubeletAtomicWriter`]: the kubelet's `AtomicWriter`, step for step, to test readers of
//! Secret and ConfigMap volumes (and of the Secrets Store CSI driver, which writes with a copy
//! of it) against the real update sequence.
//!
//! Source: kubernetes `pkg/volume/util/atomic_writer.go`, `Write` as of Kubernetes 1.30
//! (read from the openshift/kubernetes mirror of that file; the 12 numbered steps of its doc
//! comment are the numbers below). Older releases (and the CSI driver's copy,
//! `pkg/util/fileutil/atomic_writer.go`, vendored from v1.20.6) create the user-visible
//! symlinks before the `..data` swap instead of after it; [`KubeletAtomicWriter::legacy_order`]
//! reproduces that order.

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Writes a set of files into a directory the way the kubelet updates a Secret volume:
/// a new `..<UTC timestamp>.<random>` directory with the files, a `..data_tmp` symlink to it
/// renamed over `..data`, user-visible top-level symlinks `name -> ..data/name`, then the old
/// directory removed. Readers that resolve `..data` once never see a mix of two versions.
#[derive(Clone, Debug)]
pub struct KubeletAtomicWriter {
    target_dir: PathBuf,
    legacy: bool,
}

/// The step of [`KubeletAtomicWriter::write_observed`] that just finished, so a test can read
/// the volume between any two steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriterStep {
    /// (5, 6) The new timestamped directory exists and holds the whole payload.
    PayloadWritten,
    /// (8) `..data_tmp` points at the new directory.
    TmpLinkCreated,
    /// (9) `..data_tmp` was renamed over `..data`: the new version is live.
    DataLinkSwapped,
    /// (10) Missing user-visible symlinks were created.
    UserVisibleCreated,
    /// (11) User-visible paths not in the payload were removed.
    OldPathsRemoved,
    /// (12) The previous timestamped directory was removed.
    OldDirRemoved,
}

const DATA_DIR: &str = "..data";
const NEW_DATA_DIR: &str = "..data_tmp";

impl KubeletAtomicWriter {
    /// A writer for `target_dir`, which must exist (`NewAtomicWriter` checks the same).
    pub fn new(target_dir: impl Into<PathBuf>) -> io::Result<Self> {
        let target_dir = target_dir.into();
        std::fs::metadata(&target_dir)?;
        Ok(Self {
            target_dir,
            legacy: false,
        })
    }

    /// The order of Kubernetes before 1.30 and of the Secrets Store CSI driver's copy: the
    /// user-visible symlinks are created before the `..data` swap.
    pub fn legacy_order(mut self) -> Self {
        self.legacy = true;
        self
    }

    /// The directory written to.
    pub fn target_dir(&self) -> &Path {
        &self.target_dir
    }

    /// Projects `payload` (relative path → content, mode 0644) into the directory. Returns
    /// whether a new version was written (`false` when the content is unchanged).
    pub fn write(&self, payload: &[(&str, &[u8])]) -> io::Result<bool> {
        self.write_observed(payload, |_| {})
    }

    /// [`write`](Self::write), calling `observe` after each step.
    pub fn write_observed(
        &self,
        payload: &[(&str, &[u8])],
        mut observe: impl FnMut(WriterStep),
    ) -> io::Result<bool> {
        // (1) validate the payload.
        for (path, _) in payload {
            validate_path(path)?;
        }
        // (2) the current timestamped directory.
        let data_dir_path = self.target_dir.join(DATA_DIR);
        let mut old_ts_dir = match std::fs::read_link(&data_dir_path) {
            Ok(target) => Some(target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut paths_to_remove = BTreeSet::new();
        let mut should_write = true;
        if let Some(old) = &old_ts_dir {
            let old_ts_path = self.target_dir.join(old);
            // (3) paths of the old version that the payload no longer has.
            paths_to_remove = paths_to_remove_of(payload, &old_ts_path)?;
            // (4) anything to write?
            let changed = payload.iter().try_fold(false, |changed, (path, content)| {
                if changed {
                    return Ok::<_, io::Error>(true);
                }
                match std::fs::read(old_ts_path.join(path)) {
                    Ok(on_disk) => Ok(on_disk != *content),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
                    Err(e) => Err(e),
                }
            })?;
            if !changed && paths_to_remove.is_empty() {
                if self.legacy {
                    // The older writer returns here ("no update required").
                    return Ok(false);
                }
                should_write = false;
                old_ts_dir = None;
            }
        }
        if should_write {
            // (5) a new timestamped directory, mode 0755.
            let ts_dir = self.new_timestamp_dir()?;
            let ts_dir_name = ts_dir.file_name().map(PathBuf::from).unwrap_or_default();
            // (6) the payload, each file with its mode (0644).
            for (path, content) in payload {
                let full = ts_dir.join(path);
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&full, content)?;
                set_mode(&full, 0o644)?;
            }
            observe(WriterStep::PayloadWritten);
            // (7) setPerms: nothing (no fsGroup here).
            if self.legacy {
                self.create_user_visible_files(payload)?;
                observe(WriterStep::UserVisibleCreated);
            }
            // (8) ..data_tmp -> new directory.
            let new_data_dir_path = self.target_dir.join(NEW_DATA_DIR);
            symlink(&ts_dir_name, &new_data_dir_path)?;
            observe(WriterStep::TmpLinkCreated);
            // (9) rename over ..data: the atomic switch.
            std::fs::rename(&new_data_dir_path, &data_dir_path)?;
            observe(WriterStep::DataLinkSwapped);
        }
        if !self.legacy || !should_write {
            // (10) user-visible symlinks.
            self.create_user_visible_files(payload)?;
            observe(WriterStep::UserVisibleCreated);
        }
        // (11) remove user-visible paths no longer in the payload (top level only).
        for path in paths_to_remove.iter().rev() {
            if !path.contains('/') {
                let _ = std::fs::remove_file(self.target_dir.join(path));
            }
        }
        observe(WriterStep::OldPathsRemoved);
        // (12) remove the previous timestamped directory.
        if let Some(old) = old_ts_dir {
            std::fs::remove_dir_all(self.target_dir.join(old))?;
            observe(WriterStep::OldDirRemoved);
        }
        Ok(should_write)
    }

    /// `os.MkdirTemp(targetDir, time.Now().UTC().Format("..2006_01_02_15_04_05."))`: the prefix
    /// plus a random number, created exclusively.
    fn new_timestamp_dir(&self) -> io::Result<PathBuf> {
        let now = time::OffsetDateTime::now_utc();
        let prefix = format!(
            "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        loop {
            let dir = self
                .target_dir
                .join(format!("{prefix}{}", rand::random::<u32>()));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    set_mode(&dir, 0o755)?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// For each payload path, `first component -> ..data/first component` unless it exists.
    fn create_user_visible_files(&self, payload: &[(&str, &[u8])]) -> io::Result<()> {
        for (path, _) in payload {
            let first = path.split('/').next().unwrap_or(path);
            let visible = self.target_dir.join(first);
            match std::fs::read_link(&visible) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    symlink(&Path::new(DATA_DIR).join(first), &visible)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `validatePath`: relative, no `..` element, not starting with `..`, names ≤ 255 bytes.
fn validate_path(path: &str) -> io::Result<()> {
    let invalid = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid path {path:?}: {why}"),
        ))
    };
    if path.is_empty() {
        return invalid("must not be empty");
    }
    if Path::new(path).is_absolute() {
        return invalid("must be relative");
    }
    if path.len() > 4096 {
        return invalid("must be at most 4096 characters");
    }
    for item in path.split('/') {
        if item == ".." {
            return invalid("must not contain '..'");
        }
        if item.len() > 255 {
            return invalid("file names must be at most 255 characters");
        }
    }
    if path.starts_with("..") && path.split('/').next().is_some_and(|i| i.len() > 2) {
        return invalid("must not start with '..'");
    }
    if Path::new(path)
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return invalid("must be a plain relative path");
    }
    Ok(())
}

/// Every path below `old_ts_dir`, minus the payload paths and their parent directories.
fn paths_to_remove_of(
    payload: &[(&str, &[u8])],
    old_ts_dir: &Path,
) -> io::Result<BTreeSet<String>> {
    let mut current = BTreeSet::new();
    walk(old_ts_dir, old_ts_dir, &mut current)?;
    let mut new_paths = BTreeSet::new();
    for (path, _) in payload {
        let mut sub = *path;
        loop {
            new_paths.insert(sub.to_owned());
            match sub.rfind('/') {
                Some(i) => sub = &sub[..i],
                None => break,
            }
        }
    }
    Ok(current.difference(&new_paths).cloned().collect())
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if let Ok(relative) = path.strip_prefix(root) {
            out.insert(relative.to_string_lossy().into_owned());
        }
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "KubeletAtomicWriter needs Unix symlinks",
    ))
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The on-disk shape the kubelet leaves: `..data -> ..<UTC>.<digits>`, top-level
    /// `name -> ..data/name`, nested paths as real directories inside the timestamped one, the
    /// old directory and dropped names gone, unchanged content not rewritten.
    #[test]
    fn leaves_the_kubelet_layout() {
        let dir = tempfile::tempdir().unwrap();
        let writer = KubeletAtomicWriter::new(dir.path()).unwrap();
        assert!(writer
            .write(&[("a", b"1".as_slice()), ("x/y/z", b"2".as_slice())])
            .unwrap());
        let first = std::fs::read_link(dir.path().join("..data")).unwrap();
        let first_name = first.to_string_lossy().into_owned();
        let (stamp, random) = first_name.trim_start_matches("..").split_once('.').unwrap();
        assert_eq!(stamp.len(), "2026_11_29_15_00_00".len(), "{first_name}");
        assert!(stamp
            .split('_')
            .all(|p| p.chars().all(|c| c.is_ascii_digit())));
        assert!(!random.is_empty() && random.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(
            std::fs::read_link(dir.path().join("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(
            std::fs::read_link(dir.path().join("x")).unwrap(),
            Path::new("..data/x")
        );
        assert!(dir.path().join(&first).join("x/y").is_dir());
        assert_eq!(std::fs::read(dir.path().join("x/y/z")).unwrap(), b"2");
        assert_eq!(
            entries(dir.path()),
            [first_name.as_str(), "..data", "a", "x"]
        );

        // Unchanged: nothing written.
        assert!(!writer
            .write(&[("a", b"1".as_slice()), ("x/y/z", b"2".as_slice())])
            .unwrap());
        assert_eq!(
            std::fs::read_link(dir.path().join("..data")).unwrap(),
            first
        );

        // `a` changes, `x/y/z` is dropped, `b` is new.
        assert!(writer
            .write(&[("a", b"3".as_slice()), ("b", b"4".as_slice())])
            .unwrap());
        let second = std::fs::read_link(dir.path().join("..data")).unwrap();
        assert_ne!(second, first);
        let second_name = second.to_string_lossy().into_owned();
        assert_eq!(
            entries(dir.path()),
            [second_name.as_str(), "..data", "a", "b"]
        );
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"3");

        assert!(writer.write(&[("../escape", b"".as_slice())]).is_err());
        assert!(writer.write(&[("..data", b"".as_slice())]).is_err());
    }
}
