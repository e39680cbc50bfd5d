//! Reading and writing files: model files (JSON), trained weights (.npy/.npz/.safetensors/.pt).
//!
//! Every write goes through [`write_atomic`], so an interrupted or failed run never leaves a
//! half-written file where a result is expected.

pub mod model_file;
pub mod strict_json;
pub mod torch;
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
///
/// What is at `path` decides how:
/// * a regular file is replaced, keeping its permissions;
/// * a symbolic link is followed: its target is written (atomically), the link stays;
/// * anything else that exists and is not a directory — `/dev/null`, a FIFO, a terminal — is
///   written through, never replaced (so `--out /dev/null` discards the output as usual);
/// * a directory is an error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_all_atomic(&[(path, bytes)])
}

/// Writes several files all or nothing: every path is checked and every temporary written
/// before the first rename (see [`write_atomic`] for what happens at each kind of path).
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<()> {
    let mut plans = Vec::with_capacity(files.len());
    for (path, _) in files {
        plans.push(plan(path)?);
    }
    let mut temps: Vec<PathBuf> = Vec::new();
    let cleanup = |temps: &[PathBuf]| {
        for t in temps {
            let _ = fs::remove_file(t);
        }
    };
    for ((path, bytes), target) in files.iter().zip(&plans) {
        let Target::Replace { file, mode } = target else {
            continue;
        };
        match write_temp(file, bytes, mode.as_ref()) {
            Ok(t) => temps.push(t),
            Err(e) => {
                cleanup(&temps);
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        }
    }
    let mut temp = temps.iter();
    for ((path, bytes), target) in files.iter().zip(&plans) {
        let result = match target {
            Target::Replace { file, .. } => {
                let t = temp.next().expect("one temporary per replaced file");
                fs::rename(t, file)
            }
            Target::Through(file) => fs::OpenOptions::new()
                .write(true)
                .open(file)
                .and_then(|mut f| f.write_all(bytes).and_then(|_| f.flush())),
        };
        if let Err(e) = result {
            cleanup(temp.as_slice());
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    }
    Ok(())
}

/// How one output path is written.
enum Target {
    /// A regular file (new or existing, with the permissions to keep) replaced by a rename.
    Replace {
        file: PathBuf,
        mode: Option<fs::Permissions>,
    },
    /// A special file written through.
    Through(PathBuf),
}

fn plan(path: &Path) -> Result<Target> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    // Follow a symbolic link to the file it names (a dangling link: create its target).
    let file = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(t) => t,
            Err(_) => {
                let link = fs::read_link(path).map_err(io_err)?;
                path.parent().unwrap_or(Path::new(".")).join(link)
            }
        },
        _ => path.to_path_buf(),
    };
    match fs::metadata(&file) {
        Ok(m) if m.is_dir() => Err(Error::invalid(format!(
            "{} is a directory; give a file name such as result.json",
            path.display()
        ))),
        Ok(m) if m.is_file() => Ok(Target::Replace {
            file,
            mode: Some(m.permissions()),
        }),
        Ok(_) => Ok(Target::Through(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if file.file_name().is_none() {
                return Err(io_err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a file name",
                )));
            }
            Ok(Target::Replace { file, mode: None })
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Writes `bytes` to a new temporary beside `file` and returns its path.
fn write_temp(
    file: &Path,
    bytes: &[u8],
    mode: Option<&fs::Permissions>,
) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = file.file_name().unwrap_or_default();
    let dir = match file.parent() {
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
        if let Some(m) = mode {
            f.set_permissions(m.clone())?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
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
    fn special_files_are_written_through_never_replaced() {
        // /dev/null is a character device: writing must not turn it into a regular file.
        let null = Path::new("/dev/null");
        if null.exists() {
            write_atomic(null, b"discarded").unwrap();
            let m = fs::metadata(null).unwrap();
            assert!(!m.is_file(), "/dev/null was replaced by a regular file");
        }
        // A FIFO in a temporary directory, read by a thread.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if made {
            let f2 = fifo.clone();
            let reader = std::thread::spawn(move || fs::read(&f2).unwrap());
            write_atomic(&fifo, b"through").unwrap();
            assert_eq!(reader.join().unwrap(), b"through");
            let m = fs::symlink_metadata(&fifo).unwrap();
            assert!(!m.is_file(), "the FIFO was replaced");
        }
    }

    #[test]
    fn links_are_followed_and_modes_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn several_files_are_written_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("a.json");
        let taken = dir.path().join("b.json");
        fs::create_dir(&taken).unwrap();
        let r = write_all_atomic(&[(&ok, b"a"), (&taken, b"b")]);
        assert!(r.is_err());
        assert!(
            !ok.exists(),
            "the first file was written although the second failed"
        );
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporaries left");
    }

    #[test]
    fn group_write_refuses_non_regular_targets_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        let sub = dir.path().join("b.svg");
        fs::create_dir(&sub).unwrap();
        assert!(write_all_atomic(&[(&a, b"png"), (&sub, b"svg")]).is_err());
        assert!(!a.exists());
        let c = dir.path().join("c.csv");
        write_all_atomic(&[(&a, b"1"), (&c, b"2")]).unwrap();
        assert_eq!(read_text(&c).unwrap(), "2");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 3, "a, b.svg, c: no temporaries");
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails after the temporary was written.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), b"x").unwrap();
        assert!(write_atomic(&target, b"data").is_err());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the directory remains");
        assert!(matches!(
            write_atomic(&dir.path().join("missing/dir/f.json"), b"x"),
            Err(Error::Io { .. })
        ));
        assert!(read_text(&dir.path().join("nope")).is_err());
    }
}
