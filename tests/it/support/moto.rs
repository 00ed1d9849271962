//! moto's Route53 API for tests: `moto_server` on a free loopback port, killed on drop,
//! with helpers that read and write it over plain HTTP (moto does not check signatures).
//! [`PendingProxy`] sits in front of it and answers `PENDING` for each change until it has
//! been polled a few times, because moto reports every change `INSYNC` at once and so
//! cannot show that a client waits. It never skips: without `moto_server` it panics with
//! how to install it.

use super::pebble::find_on_path;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NOT_INSTALLED: &str = "moto_server is not installed: run `pip install 'moto[server]'` (PyPI), or `bash scripts/test`, which installs it in a venv and puts it on PATH — the Route53 tests need it as the Route53 API";
/// moto picks the service from the credential scope of the Authorization header.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=0";

pub struct Moto {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let program = find_on_path("moto_server")
            .or_else(venv_moto_server)
            .unwrap_or_else(|| panic!("{NOT_INSTALLED}"));
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("moto.log")).unwrap();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn moto_server");
        let mut moto = Moto { dir, child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while request(port, "GET", "/2013-04-01/hostedzone", "").is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status}:\n{}", moto.log());
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer:\n{}",
                moto.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    #[cfg(feature = "s3")]
    /// An AWS SDK configuration for this moto (any service), with test credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.url())
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "test",
            )))
            .build()
    }

    #[cfg(feature = "s3")]
    /// Creates an S3 bucket (for outputs of `kind = "s3"`).
    pub fn create_bucket(&self, bucket: &str) {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config()).force_path_style(true);
        let client = aws_sdk_s3::Client::from_conf(config.build());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.create_bucket().bucket(bucket).send())
            .unwrap();
    }

    /// Creates a public hosted zone and returns its id (without `/hostedzone/`).
    pub fn create_zone(&self, name: &str) -> String {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>{name}.</Name><CallerReference>{name}-{}</CallerReference></CreateHostedZoneRequest>"#,
            std::process::id()
        );
        let (status, xml) = request(self.port, "POST", "/2013-04-01/hostedzone", &body).unwrap();
        assert_eq!(status, 201, "CreateHostedZone: {xml}");
        between(&xml, "<Id>/hostedzone/", "</Id>")
            .into_iter()
            .next()
            .expect("a zone id")
    }

    /// Writes a TXT record set with these values (UPSERT), as another tool would.
    pub fn upsert_txt(&self, zone: &str, name: &str, values: &[&str]) {
        let records: String = values
            .iter()
            .map(|v| format!("<ResourceRecord><Value>\"{v}\"</Value></ResourceRecord>"))
            .collect();
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>{name}.</Name><Type>TXT</Type><TTL>300</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#
        );
        let path = format!("/2013-04-01/hostedzone/{zone}/rrset/");
        let (status, xml) = request(self.port, "POST", &path, &body).unwrap();
        assert_eq!(status, 200, "ChangeResourceRecordSets: {xml}");
    }

    /// The TXT values at `name` (sorted, without quotes).
    pub fn txt(&self, zone: &str, name: &str) -> Vec<String> {
        let path = format!("/2013-04-01/hostedzone/{zone}/rrset");
        let (status, xml) = request(self.port, "GET", &path, "").unwrap();
        assert_eq!(status, 200, "ListResourceRecordSets: {xml}");
        let mut values = Vec::new();
        for set in between(&xml, "<ResourceRecordSet>", "</ResourceRecordSet>") {
            let is_txt = set.contains("<Type>TXT</Type>");
            if is_txt && set.contains(&format!("<Name>{name}.</Name>")) {
                for value in between(&set, "<Value>", "</Value>") {
                    values.push(value.replace("&quot;", "\"").trim_matches('"').to_string());
                }
            }
        }
        values.sort();
        values
    }

    /// Every record set name in the zone.
    pub fn record_names(&self, zone: &str) -> Vec<String> {
        let path = format!("/2013-04-01/hostedzone/{zone}/rrset");
        let (_, xml) = request(self.port, "GET", &path, "").unwrap();
        between(&xml, "<Name>", "</Name>")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `scripts/test` installs moto: `${XDG_CACHE_HOME:-~/.cache}/certform/moto-venv`.
fn venv_moto_server() -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cache"))
        })?;
    let program = cache.join("certform/moto-venv/bin/moto_server");
    program.exists().then_some(program)
}

/// The texts between each `start` and the next `end`.
fn between(text: &str, start: &str, end: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(start) {
        rest = &rest[at + start.len()..];
        let Some(stop) = rest.find(end) else { break };
        out.push(rest[..stop].to_string());
        rest = &rest[stop + end.len()..];
    }
    out
}

/// One HTTP/1.0 request to moto: (status, body).
fn request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    sock.write_all(
        format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {AUTHORIZATION}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed status line"))?;
    Ok((status, body.to_string()))
}

/// A proxy to moto that reports every change `PENDING` until GetChange has asked about it
/// `pending_polls` times, and counts those polls per change. (moto may reuse a change id,
/// so changes are told apart by submission, in order.)
pub struct PendingProxy {
    port: u16,
    changes: Arc<Mutex<Vec<Submission>>>,
}

/// One ChangeResourceRecordSets call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub change_id: String,
    /// GetChange calls for it, the last of which answered INSYNC.
    pub polls: usize,
}

impl PendingProxy {
    pub fn start(moto_port: u16, pending_polls: usize) -> PendingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let changes: Arc<Mutex<Vec<Submission>>> = Arc::default();
        let counter = changes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = forward(stream, moto_port, pending_polls, &counter);
                });
            }
        });
        PendingProxy { port, changes }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every change submitted so far, in order.
    pub fn changes(&self) -> Vec<Submission> {
        self.changes.lock().unwrap().clone()
    }
}

/// Reads one request, sends it to moto with `Connection: close`, rewrites the status of
/// changes and answers with `Connection: close` (the client reconnects for the next one).
fn forward(
    mut client: TcpStream,
    moto_port: u16,
    pending_polls: usize,
    changes: &Mutex<Vec<Submission>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_len, body_len) = loop {
        let n = client.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while raw.len() < head_len + body_len {
        let n = client.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_len]).into_owned();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let path = request_line.split_whitespace().nth(1).unwrap_or_default();
    let mut headers: Vec<&str> = head
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    headers.push("Connection: close");
    let mut upstream = TcpStream::connect(("127.0.0.1", moto_port))?;
    upstream.write_all(format!("{request_line}\r\n{}\r\n\r\n", headers.join("\r\n")).as_bytes())?;
    upstream.write_all(&raw[head_len..])?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let Some((status_and_headers, body)) = text.split_once("\r\n\r\n") else {
        return client.write_all(&response);
    };
    let pending = if let Some(id) = path.strip_prefix("/2013-04-01/change/") {
        let mut changes = changes.lock().unwrap();
        match changes.iter_mut().rev().find(|c| c.change_id == id) {
            Some(change) => {
                change.polls += 1;
                change.polls <= pending_polls
            }
            None => false,
        }
    } else if let (true, [id]) = (
        request_line.starts_with("POST") && path.contains("/rrset"),
        between(body, "<Id>/change/", "</Id>").as_slice(),
    ) {
        // A new change starts out pending.
        changes.lock().unwrap().push(Submission {
            change_id: id.clone(),
            polls: 0,
        });
        true
    } else {
        false
    };
    let body = if pending {
        body.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>")
    } else {
        body.to_string()
    };
    let mut lines: Vec<String> = status_and_headers
        .lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            !lower.starts_with("content-length:") && !lower.starts_with("connection:")
        })
        .map(str::to_string)
        .collect();
    lines.push(format!("Content-Length: {}", body.len()));
    lines.push("Connection: close".to_string());
    client.write_all(format!("{}\r\n\r\n{body}", lines.join("\r\n")).as_bytes())
}
