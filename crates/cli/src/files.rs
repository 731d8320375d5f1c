//! Files the command line reads and writes: every read bounded before anything is parsed
//! (also for devices and pipes, whose size metadata says nothing), secret files created
//! new with mode 0600 and never through a symbolic link, and secret files that others
//! can read refused.

use std::io::{Read, Write};
use std::path::Path;

use crate::CliError;

/// Most bytes of a secret-key file (a PKCS#8 PEM key is a few hundred).
pub const MAX_SECRET_BYTES: u64 = 16 * 1024;

/// Most bytes of a small input: a calibration, a districts file, an ECIES input.
pub const MAX_SMALL_BYTES: u64 = 1 << 20;

/// A reader that fails, instead of ending, when its input is longer than its limit: a
/// stream cut at the limit would parse as a shorter, truncated input.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Bounded<R> {
    /// `inner`, failing past `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            left: limit,
            limit,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("longer than the {} bytes accepted", self.limit),
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// `path` opened for reading, failing past `limit` bytes.
pub fn open_bounded(path: &Path, limit: u64) -> Result<Bounded<std::fs::File>, CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Io(format!("cannot open {}: {e}", path.display())))?;
    Ok(Bounded::new(file, limit))
}

/// The bytes of `path`, refused past `limit` bytes (read no further than that).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    open_bounded(path, limit)?
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(bytes)
}

/// The text of `path` (UTF-8), refused past `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, CliError> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|_| CliError::Invalid(format!("{} is not UTF-8 text", path.display())))
}

/// The text of the secret-key file `path`, zeroized on drop. Refused, as ssh does, when
/// the file is not a regular file or when its group or others may read or write it.
pub fn read_secret(path: &Path) -> Result<zeroize::Zeroizing<String>, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(CliError::Invalid(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CliError::Invalid(format!(
                "secret key file {} is accessible to others (mode {mode:03o}); \
                 make it private (chmod 600) and, if others could read it, replace the key",
                path.display()
            )));
        }
    }
    let bytes = zeroize::Zeroizing::new(read_bounded(path, MAX_SECRET_BYTES)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::Invalid(format!("{} is not a PEM text file", path.display())))?;
    Ok(zeroize::Zeroizing::new(text.to_owned()))
}

/// Whether anything (a file, a directory, a symbolic link, even a dangling one) is at
/// `path`.
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Writes `bytes` to a new file at `path`: created new (never through a symbolic link)
/// beside it and renamed into place, so that a reader sees the old file or the new one,
/// never a part. With `secret`, the file has mode 0600 from its creation. An existing
/// `path` is refused unless `replace`; a symbolic link at `path` is replaced, its target
/// untouched.
pub fn write_new(path: &Path, bytes: &[u8], secret: bool, replace: bool) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Io(format!("cannot write {}: {e}", path.display()));
    if exists(path) && !replace {
        return Err(CliError::Invalid(format!(
            "{} exists; refusing to overwrite it (--force replaces it)",
            path.display()
        )));
    }
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Invalid(format!("{} is not a file name", path.display())))?;
    let temporary = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if secret { 0o600 } else { 0o644 });
    let written = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bounded_reader_fails_past_its_limit_and_not_at_it() {
        let mut exact = Vec::new();
        Bounded::new(&[7u8; 10][..], 10)
            .read_to_end(&mut exact)
            .unwrap();
        assert_eq!(exact.len(), 10);
        let mut over = Vec::new();
        let err = Bounded::new(&[7u8; 11][..], 10)
            .read_to_end(&mut over)
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_is_refused_without_reading_it_whole() {
        let err = read_bounded(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(err, CliError::Invalid(_)), "{err}");
    }
}
