//! The S3 object store: the private, encrypted results bucket. Clients never read it directly;
//! they get presigned links that expire. The links are signed here (AWS Signature Version 4 in
//! the query string, as the S3 client presigns), so the route functions that only show results
//! ([`S3Links`]) need not link the S3 client, ~0.9 MB of each.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::ports::objects::{ObjectError, ObjectStore};

/// One bucket.
#[derive(Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
    links: S3Links,
}

impl S3Objects {
    /// Wraps a client (built once per cold start) and the links to the bucket's objects (which
    /// name the bucket).
    pub fn new(client: Client, links: S3Links) -> Self {
        S3Objects {
            client,
            bucket: links.bucket.clone(),
            links,
        }
    }
}

/// Presigned links to a bucket's objects, without the S3 client: what the route functions that
/// show results need. It stores and reads nothing.
#[derive(Clone, Debug)]
pub struct S3Links {
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    bucket: String,
    /// A custom endpoint (an emulator): objects are addressed by path under it.
    endpoint: Option<String>,
}

impl S3Links {
    /// Links to `bucket`'s objects, signed with the credentials and region of `sdk`; addressed
    /// under its S3 endpoint when one is configured (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`).
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>) -> Self {
        S3Links {
            credentials: sdk.credentials_provider(),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            bucket: bucket.into(),
            endpoint: super::endpoint_url("S3").or_else(|| sdk.endpoint_url().map(str::to_owned)),
        }
    }

    /// A GET of `key` signed for `seconds` from `now`.
    pub async fn signed(
        &self,
        key: &str,
        seconds: u64,
        now: SystemTime,
    ) -> Result<String, ObjectError> {
        let credentials = self
            .credentials
            .as_ref()
            .ok_or_else(|| ObjectError("no credentials to sign links with".into()))?
            .provide_credentials()
            .await
            .map_err(failed)?;
        let identity = credentials.into();
        let path: String = key
            .split('/')
            .map(|segment| utf8_percent_encode(segment, KEY_SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/");
        let url = match &self.endpoint {
            Some(endpoint) => format!(
                "{}/{}/{path}?x-id=GetObject",
                endpoint.trim_end_matches('/'),
                self.bucket
            ),
            // Virtual-hosted style, as the S3 client addresses a bucket in its Region (the
            // China Regions have their own domain).
            None => format!(
                "https://{}.s3.{}.{}/{path}?x-id=GetObject",
                self.bucket,
                self.region,
                match self.region.starts_with("cn-") {
                    true => "amazonaws.com.cn",
                    false => "amazonaws.com",
                }
            ),
        };
        // S3's signing rules: no double encoding, no path normalisation, an unsigned payload.
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(seconds));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(failed)?
            .into();
        let request = SignableRequest::new(
            "GET",
            url.as_str(),
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(failed)?;
        let (instructions, _) = sign(request, &params).map_err(failed)?.into_parts();
        let mut request = http::Request::get(&url).body(()).map_err(failed)?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

/// What an S3 key's path segments escape: everything but the unreserved characters.
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[async_trait]
impl ObjectStore for S3Links {
    async fn put(&self, _key: &str, _bytes: Vec<u8>, _type: &str) -> Result<(), ObjectError> {
        Err(ObjectError("this function only links to results".into()))
    }

    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        Err(ObjectError("this function only links to results".into()))
    }

    async fn link(&self, key: &str, seconds: u64) -> Result<String, ObjectError> {
        self.signed(key, seconds, SystemTime::now()).await
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
        self.links.link(key, seconds).await
    }
}
