//! Reading BPF object files for the kernel model, which does no I/O (`BpfObject::parse` takes bytes): only regular
//! files of at most `MAX_OBJECT_FILE_SIZE` bytes are read, so a directory or `/dev/zero` is refused before reading.

use kernel_model::bpf::object::MAX_OBJECT_FILE_SIZE;
use kernel_model::bpf::BpfObjectError;
use std::path::Path;

/// The bytes of the BPF object at `path` (`bpf_object__open_file`'s read), or the I/O error naming it.
pub fn read_bpf_object(path: &Path) -> Result<Vec<u8>, BpfObjectError> {
    let io = |message: String| BpfObjectError::Io { path: path.to_path_buf(), message };
    let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
    if !meta.is_file() {
        return Err(io(if meta.is_dir() { "a directory, not a file".into() } else { "not a regular file".into() }));
    }
    if meta.len() > MAX_OBJECT_FILE_SIZE {
        return Err(io(format!("{} bytes, more than the {MAX_OBJECT_FILE_SIZE}-byte limit", meta.len())));
    }
    std::fs::read(path).map_err(|e| io(e.to_string()))
}
