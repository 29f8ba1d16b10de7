//! Reading a file the user names: only a regular file (a FIFO blocks until a writer comes,
//! `/dev/zero` never ends) and never more than a cap, so a wrong path is a clear error instead of
//! a hang or exhausted memory. The errors are reasons; each caller says which file it wanted.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// `path` opened for reading, with its length, if it is a regular file (after links).
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), String> {
    open(path, 0)
}

/// As [`open_regular`], but a link is refused too: a run folder's own files are read only when
/// they are the folder's (see `run_dir::open_own`).
pub(crate) fn open_regular_not_linked(path: &Path) -> Result<(File, u64), String> {
    open(path, libc::O_NOFOLLOW)
}

/// Opens without blocking (a FIFO would block an ordinary open until a writer comes; the flag
/// changes nothing for a regular file) and asks the opened file what it is, so nothing can
/// swap it between the question and the reading.
fn open(path: &Path, flags: i32) -> Result<(File, u64), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | flags)
        .open(path)
        .map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file (a device, pipe or folder)".into());
    }
    Ok((file, metadata.len()))
}

/// The whole of a regular file of at most `cap` bytes.
pub(crate) fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let (file, length) = open_regular(path)?;
    let too_large =
        |length: u64| format!("{length} bytes, more than the {cap} such a file can need");
    if length > cap {
        return Err(too_large(length));
    }
    let mut bytes = Vec::with_capacity(length as usize);
    // The cap holds even if the file grows while it is read.
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_never_past_the_cap() {
        // A device that never ends and a folder are refused before any read.
        assert!(
            read_capped(Path::new("/dev/zero"), 1 << 20)
                .is_err_and(|e| e.contains("not a regular file"))
        );
        assert!(
            read_capped(Path::new("/tmp"), 1 << 20)
                .is_err_and(|e| e.contains("not a regular file"))
        );
        let dir = std::env::temp_dir().join(format!("neurona-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A pipe nobody writes to: opening it to read would block.
        let pipe = dir.join("pipe");
        let name = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the file.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(read_capped(&pipe, 1 << 20).is_err_and(|e| e.contains("not a regular file")));
        let file = dir.join("token");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_capped(&file, 10).unwrap(), b"0123456789");
        assert!(read_capped(&file, 9).is_err_and(|e| e.contains("more than the 9")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
