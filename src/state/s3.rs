//! The `s3` backend (the only user of the AWS SDK): one object per workspace (`key` for
//! `default`, `<workspace_key_prefix>/<NAME>/<key>` for the others, as Terraform lays them
//! out) and a lock object `<object>.lock` created with a conditional write
//! (`If-None-Match: *`), so of two writers exactly one gets it. State writes are
//! conditional too (`If-Match` on the ETag whose serial was checked), so even a writer
//! without the lock cannot overwrite a newer state. S3 cannot know that a lock holder died:
//! a lock left behind is reported with its holder and removed with `force-unlock`.
//!
//! Credentials, region and profile come from the standard AWS chain (environment, profile
//! files, instance metadata); `endpoint` and `use_path_style` reach S3-compatible stores.
//! An `http://` endpoint would send the request signatures and the state in clear: it is
//! refused unless the state block sets `allow_insecure_transport = true` ([`crate::aws::check_endpoint`]).

use super::store::{
    check_unlock_id, check_workspace_name, document_serial, lock_lost, locked_by,
    no_such_workspace, ordered_workspaces, serial_moved, LockInfo, StateLock, StateStore,
    DEFAULT_WORKSPACE, LOCK_RETRY,
};
use crate::desired::model::S3Settings;
use crate::error::{Error, Result};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The client and the settings shared by the workspaces of a backend.
struct Bucket {
    client: aws_sdk_s3::Client,
    settings: S3Settings,
}

pub struct S3Store {
    bucket: Arc<Bucket>,
    workspace: String,
}

/// An object's body and ETag.
struct Fetched {
    body: Vec<u8>,
    etag: Option<String>,
}

/// The lock object this process created; dropping it deletes the object, but only while
/// it is still the one we wrote (its ETag), never a successor's.
struct S3Guard {
    bucket: Arc<Bucket>,
    lock_key: String,
    id: String,
    etag: Option<String>,
}

impl Drop for S3Guard {
    fn drop(&mut self) {
        let bucket = &self.bucket;
        let request = bucket
            .client
            .delete_object()
            .bucket(&bucket.settings.bucket)
            .key(&self.lock_key)
            .set_if_match(self.etag.clone());
        // Best effort: a lock that cannot be deleted is reported to the next command.
        let _ = crate::runtime::block_on(request.send());
    }
}

/// Whether an SDK error is a failed precondition (another writer was first).
fn precondition_failed<E, R: HttpStatus>(error: &SdkError<E, R>) -> bool {
    error
        .raw_response()
        .is_some_and(|response| matches!(response.status_code(), 409 | 412))
}

/// The HTTP status of a raw response.
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Bucket {
    fn error<E: std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        what: &str,
        key: &str,
        error: SdkError<E, R>,
    ) -> Error {
        Error::State(format!(
            "S3 s3://{}/{key}: {what}: {}",
            self.settings.bucket,
            DisplayErrorContext(&error)
        ))
    }

    fn state_key(&self, workspace: &str) -> String {
        let settings = &self.settings;
        match workspace {
            DEFAULT_WORKSPACE => settings.key.clone(),
            _ => format!(
                "{}/{workspace}/{}",
                settings.workspace_key_prefix, settings.key
            ),
        }
    }

    /// The object at `key`, or `None` when there is none.
    fn fetch(&self, key: &str) -> Result<Option<Fetched>> {
        let request = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(key);
        crate::runtime::block_on(async {
            let output = match request.send().await {
                Ok(output) => output,
                Err(e)
                    if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(self.error("cannot read", key, e)),
            };
            let etag = output.e_tag().map(str::to_string);
            let body = output.body.collect().await.map_err(|e| {
                Error::State(format!(
                    "S3 s3://{}/{key}: cannot read the body: {e}",
                    self.settings.bucket
                ))
            })?;
            Ok(Some(Fetched {
                body: body.into_bytes().to_vec(),
                etag,
            }))
        })
    }

    /// Writes `body` to `key` if the object's ETag is still `if_match` (`None`: only if
    /// there is no object). `Ok(None)` when that precondition failed; else the new ETag.
    fn put_if(
        &self,
        key: &str,
        body: &[u8],
        if_match: Option<&str>,
    ) -> Result<Option<Option<String>>> {
        let settings = &self.settings;
        let mut request = self
            .client
            .put_object()
            .bucket(&settings.bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .set_server_side_encryption(
                settings
                    .server_side_encryption
                    .as_deref()
                    .map(ServerSideEncryption::from),
            )
            .set_ssekms_key_id(settings.kms_key_id.clone());
        request = match if_match {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match crate::runtime::block_on(request.send()) {
            Ok(output) => Ok(Some(output.e_tag().map(str::to_string))),
            Err(e) if precondition_failed(&e) => Ok(None),
            Err(e) => Err(self.error("cannot write", key, e)),
        }
    }

    fn delete(&self, key: &str, if_match: Option<String>) -> Result<()> {
        let request = self
            .client
            .delete_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .set_if_match(if_match);
        crate::runtime::block_on(request.send())
            .map(drop)
            .map_err(|e| self.error("cannot delete", key, e))
    }
}

/// An S3 client for `shared`, at `endpoint` when given (an S3-compatible store).
pub(crate) fn s3_client(
    shared: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    use_path_style: bool,
) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(use_path_style)
        // Many S3-compatible stores reject the newer default checksum headers.
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

impl S3Store {
    /// Builds the client from the AWS chain and the settings, and binds `workspace`.
    pub fn connect(settings: &S3Settings, workspace: &str) -> Result<S3Store> {
        crate::aws::check_endpoint(
            settings.endpoint.as_deref(),
            settings.allow_insecure_transport,
        )
        .map_err(Error::Usage)?;
        let shared =
            crate::runtime::block_on(crate::aws::sdk_config(settings.region.as_deref(), None));
        let client = s3_client(
            &shared,
            settings.endpoint.as_deref(),
            settings.use_path_style,
        );
        let store = S3Store {
            bucket: Arc::new(Bucket {
                client,
                settings: settings.clone(),
            }),
            workspace: DEFAULT_WORKSPACE.to_string(),
        };
        if workspace == DEFAULT_WORKSPACE {
            Ok(store)
        } else {
            store.bind(workspace)
        }
    }

    fn bind(&self, workspace: &str) -> Result<S3Store> {
        check_workspace_name(workspace)?;
        let store = S3Store {
            bucket: self.bucket.clone(),
            workspace: workspace.to_string(),
        };
        if workspace != DEFAULT_WORKSPACE && store.bucket.fetch(&store.state_key())?.is_none() {
            return Err(no_such_workspace(workspace, &self.describe()));
        }
        Ok(store)
    }

    fn state_key(&self) -> String {
        self.bucket.state_key(&self.workspace)
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.state_key())
    }

    /// The stored serial and ETag; a workspace's empty marker object has no serial.
    fn current(&self) -> Result<(Option<u64>, Option<String>)> {
        match self.bucket.fetch(&self.state_key())? {
            None => Ok((None, None)),
            Some(Fetched { body, etag }) if body.is_empty() => Ok((None, etag)),
            Some(Fetched { body, etag }) => Ok((Some(document_serial(&body)?), etag)),
        }
    }

    fn holder(&self) -> Result<Option<(LockInfo, Option<String>)>> {
        Ok(self.bucket.fetch(&self.lock_key())?.and_then(|lock| {
            serde_json::from_slice(&lock.body)
                .ok()
                .map(|info| (info, lock.etag))
        }))
    }
}

impl StateStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket.settings.bucket, self.state_key())
    }

    fn get(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .bucket
            .fetch(&self.state_key())?
            .map(|fetched| fetched.body)
            .filter(|body| !body.is_empty()))
    }

    fn put(&self, lock: &StateLock, expected_serial: Option<u64>, bytes: &[u8]) -> Result<()> {
        let guard: &S3Guard = lock.guard()?;
        if guard.lock_key != self.lock_key() {
            return Err(Error::Bug(format!(
                "writing {} with the lock {}",
                self.describe(),
                guard.lock_key
            )));
        }
        if self.holder()?.map(|(info, _)| info.id) != Some(guard.id.clone()) {
            return Err(lock_lost(lock, &self.describe()));
        }
        let (found, etag) = self.current()?;
        if found != expected_serial {
            return Err(serial_moved(expected_serial, found, &self.describe()));
        }
        match self
            .bucket
            .put_if(&self.state_key(), bytes, etag.as_deref())?
        {
            Some(_) => Ok(()),
            None => Err(serial_moved(
                expected_serial,
                self.current()?.0,
                &self.describe(),
            )),
        }
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<StateLock> {
        let lock_key = self.lock_key();
        let deadline = Instant::now() + timeout;
        loop {
            let info = LockInfo::new(operation);
            if let Some(etag) = self.bucket.put_if(&lock_key, &info.to_json(), None)? {
                let guard = S3Guard {
                    bucket: self.bucket.clone(),
                    lock_key,
                    id: info.id.clone(),
                    etag,
                };
                return Ok(StateLock::new(info, guard));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(locked_by(
                    self.lock_info()?,
                    &format!("s3://{}/{lock_key}", self.bucket.settings.bucket),
                ));
            }
            std::thread::sleep(LOCK_RETRY.min(deadline - now));
        }
    }

    fn lock_info(&self) -> Result<Option<LockInfo>> {
        Ok(self.holder()?.map(|(info, _)| info))
    }

    fn force_unlock(&self, id: &str) -> Result<()> {
        let holder = self.holder()?;
        check_unlock_id(holder.as_ref().map(|(info, _)| info), id, &self.describe())?;
        let etag = holder.and_then(|(_, etag)| etag);
        self.bucket.delete(&self.lock_key(), etag)
    }

    fn workspaces(&self) -> Result<Vec<String>> {
        let bucket = &self.bucket;
        let prefix = format!("{}/", bucket.settings.workspace_key_prefix);
        let suffix = format!("/{}", bucket.settings.key);
        let mut pages = bucket
            .client
            .list_objects_v2()
            .bucket(&bucket.settings.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        let keys = crate::runtime::block_on(async {
            let mut keys = Vec::new();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| bucket.error("cannot list the workspaces", &prefix, e))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
            }
            Ok::<_, Error>(keys)
        })?;
        Ok(ordered_workspaces(keys.iter().filter_map(|key| {
            key.strip_prefix(&prefix)?
                .strip_suffix(&suffix)
                .filter(|name| check_workspace_name(name).is_ok())
                .map(str::to_string)
        })))
    }

    fn create_workspace(&self, name: &str) -> Result<()> {
        check_workspace_name(name)?;
        let key = self.bucket.state_key(name);
        // An empty object marks a workspace that has no state yet.
        if name == DEFAULT_WORKSPACE || self.bucket.put_if(&key, b"", None)?.is_none() {
            return Err(Error::Usage(format!(
                "The workspace {name:?} already exists."
            )));
        }
        Ok(())
    }

    fn delete_workspace(&self, name: &str) -> Result<()> {
        let key = self.bucket.state_key(name);
        if self.bucket.fetch(&key)?.is_none() {
            return Err(no_such_workspace(name, &self.describe()));
        }
        self.bucket.delete(&key, None)?;
        self.bucket.delete(&format!("{key}.lock"), None)
    }

    fn workspace(&self, name: &str) -> Result<Box<dyn StateStore>> {
        Ok(Box::new(self.bind(name)?))
    }
}
