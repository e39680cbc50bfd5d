//! Reading and writing files: model files (JSON), trained weights (.npy/.npz/.safetensors).
//!
//! Every write goes through [`write_atomic`], so an interrupted or failed run never leaves a
//! half-written file where a result is expected.

pub mod model_file;
pub mod weights;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// Checks, before a long computation, that `path` can be written later: its directory exists
/// and `path` itself is not a directory. ([`write_atomic`] still reports any later failure.)
pub fn check_output_path(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::invalid(format!(
            "--out {} is a directory; give a file name such as result.json",
            path.display()
        )));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", parent.display()),
            ),
        });
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory (so the rename
/// stays on one file system) is written, flushed to disk and renamed over `path`. On any error
/// the temporary file is removed and `path` is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);

    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        // Best effort: the temporary may not exist if creating it was what failed.
        let _ = fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    Ok(())
}

/// Refuses to replace anything but a regular file (a directory, a symlink, a device or a FIFO
/// at `path` is an error); a missing `path` is fine if its directory exists.
pub fn check_replaceable(path: &Path) -> Result<()> {
    check_output_path(path)?;
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => Err(Error::invalid(format!(
            "{} exists and is not a regular file; refusing to replace it",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Writes several files as one: every temporary is written and flushed first, then all are
/// renamed. If any temporary cannot be written, none of the targets is touched and the
/// temporaries are removed. (A failure between renames — after every byte is on disk — can
/// still leave the earlier targets replaced.)
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<()> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    for (path, _) in files {
        check_replaceable(path)?;
    }
    let mut temps: Vec<PathBuf> = Vec::new();
    let cleanup = |temps: &[PathBuf]| {
        for t in temps {
            let _ = fs::remove_file(t);
        }
    };
    for (path, bytes) in files {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(path.file_name().unwrap_or_default());
        tmp_name.push(format!(
            ".tmp.{}.g{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = dir.join(tmp_name);
        let written = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            temps.push(tmp.clone());
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            cleanup(&temps);
            return Err(io_err(e));
        }
    }
    for (k, ((path, _), tmp)) in files.iter().zip(&temps).enumerate() {
        if let Err(e) = fs::rename(tmp, path) {
            cleanup(&temps[k..]);
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    }
    Ok(())
}

/// Reads a whole UTF-8 text file; errors name the path.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read_text(&p).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn group_write_refuses_non_regular_targets_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        let sub = dir.path().join("b.svg");
        fs::create_dir(&sub).unwrap();
        assert!(write_all_atomic(&[(&a, b"png"), (&sub, b"svg")]).is_err());
        assert!(!a.exists());
        #[cfg(unix)]
        {
            let link = dir.path().join("l.csv");
            std::os::unix::fs::symlink(&a, &link).unwrap();
            assert!(check_replaceable(&link).is_err());
        }
        let c = dir.path().join("c.csv");
        write_all_atomic(&[(&a, b"1"), (&c, b"2")]).unwrap();
        assert_eq!(read_text(&c).unwrap(), "2");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 4, "a, b.svg, l.csv, c: no temporaries");
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails after the temporary was written.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), b"x").unwrap();
        assert!(matches!(
            write_atomic(&target, b"data"),
            Err(Error::Io { .. })
        ));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the directory remains");
        assert!(matches!(
            write_atomic(&dir.path().join("missing/dir/f.json"), b"x"),
            Err(Error::Io { .. })
        ));
        assert!(read_text(&dir.path().join("nope")).is_err());
    }
}
