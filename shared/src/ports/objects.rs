//! The object store port: large outputs and images (S3 in production).

use async_trait::async_trait;

/// What can go wrong storing an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("object store: {0}")]
pub struct ObjectError(pub String);

/// Stores objects and hands out time-limited links to them.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError>;

    /// Reads an object back.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError>;

    /// A link that reads the object for `seconds` (a presigned URL in production).
    async fn link(&self, key: &str, seconds: u64) -> Result<String, ObjectError>;
}
