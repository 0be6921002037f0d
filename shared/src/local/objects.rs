//! The embedded object store: files under the local data directory, or memory for tests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::objects::{ObjectError, ObjectStore};

/// Objects in a directory or in memory.
pub enum LocalObjects {
    /// Files under this directory; links are `file://` URLs.
    Directory(PathBuf),
    /// Memory; links are `memory://` URLs.
    Memory(Mutex<HashMap<String, Vec<u8>>>),
}

impl LocalObjects {
    /// A store that lives only as long as the process.
    pub fn in_memory() -> Self {
        LocalObjects::Memory(Mutex::new(HashMap::new()))
    }

    fn path(dir: &std::path::Path, key: &str) -> Result<PathBuf, ObjectError> {
        if key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(ObjectError(format!("invalid object key {key}")));
        }
        Ok(dir.join(key))
    }
}

#[async_trait]
impl ObjectStore for LocalObjects {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), ObjectError> {
        match self {
            LocalObjects::Directory(dir) => {
                let path = Self::path(dir, key)?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| ObjectError(e.to_string()))?;
                }
                std::fs::write(path, bytes).map_err(|e| ObjectError(e.to_string()))
            }
            LocalObjects::Memory(objects) => {
                objects
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.to_owned(), bytes);
                Ok(())
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        match self {
            LocalObjects::Directory(dir) => match std::fs::read(Self::path(dir, key)?) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(ObjectError(e.to_string())),
            },
            LocalObjects::Memory(objects) => Ok(objects
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .cloned()),
        }
    }

    async fn link(&self, key: &str, _seconds: u64) -> Result<String, ObjectError> {
        match self {
            LocalObjects::Directory(dir) => {
                Ok(format!("file://{}", Self::path(dir, key)?.display()))
            }
            LocalObjects::Memory(_) => Ok(format!("memory://{key}")),
        }
    }
}
