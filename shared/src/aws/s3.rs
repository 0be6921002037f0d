//! The S3 object store: the private, encrypted results bucket. Clients never read it directly;
//! they get presigned links that expire.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::ports::objects::{ObjectError, ObjectStore};

/// One bucket.
#[derive(Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
}

impl S3Objects {
    /// Wraps a client (built once per cold start) and the bucket's name.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Objects {
            client,
            bucket: bucket.into(),
        }
    }
}

fn failed(error: impl std::error::Error) -> ObjectError {
    ObjectError(DisplayErrorContext(&error).to_string())
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => {
                let bytes = object.body.collect().await.map_err(failed)?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(error) if error.code() == Some("NoSuchKey") => Ok(None),
            Err(error) => Err(failed(error)),
        }
    }

    async fn link(&self, key: &str, seconds: u64) -> Result<String, ObjectError> {
        let config = PresigningConfig::expires_in(Duration::from_secs(seconds))
            .map_err(|e| ObjectError(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(failed)?;
        Ok(request.uri().to_owned())
    }
}
