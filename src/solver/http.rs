//! HTTP-01 (RFC 8555 §8.3): the built-in server (`listen`) and the `webroot` writer.

use super::ChallengeData;
use crate::address::Address;
use crate::{Error, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";
const CHALLENGE_DIR: &str = ".well-known/acme-challenge";

/// Tokens are base64url (RFC 8555 §8.3); anything else could name a path outside the
/// webroot, so it is refused before it reaches a file system or a map.
pub(super) fn validate_token(ch: &ChallengeData) -> Result<()> {
    let ok = !ch.token.is_empty()
        && ch.token.len() <= 512
        && ch
            .token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Solver(format!(
            "the CA sent a challenge token for {} that is not base64url; refusing to use it",
            ch.domain
        )))
    }
}

type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// One built-in HTTP/1 server answering `GET /.well-known/acme-challenge/<token>`.
pub(super) struct ChallengeServer {
    tokens: Tokens,
    task: Mutex<Option<JoinHandle<()>>>,
    #[allow(dead_code)]
    local_addr: SocketAddr,
}

impl ChallengeServer {
    pub(super) async fn bind(solver: &Address, listen: &str) -> Result<ChallengeServer> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            Error::Solver(format!(
                "{solver}: cannot listen on {listen} for HTTP-01 challenges: {e}"
            ))
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::Solver(format!("{solver}: cannot listen on {listen}: {e}")))?;
        let tokens: Tokens = Arc::default();
        let task = tokio::spawn(serve(listener, tokens.clone()));
        Ok(ChallengeServer {
            tokens,
            task: Mutex::new(Some(task)),
            local_addr,
        })
    }

    pub(super) fn insert(&self, token: &str, key_authorization: &str) {
        lock(&self.tokens).insert(token.to_string(), key_authorization.to_string());
    }

    pub(super) fn remove(&self, token: &str) {
        lock(&self.tokens).remove(token);
    }

    pub(super) async fn stop(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for ChallengeServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

fn lock(tokens: &Tokens) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
    tokens.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accept loop; connections live in a `JoinSet` owned by this task, so aborting the task
/// closes them all.
async fn serve(listener: TcpListener, tokens: Tokens) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let tokens = tokens.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let response = respond(&tokens, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

fn respond(tokens: &Tokens, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let found = if req.method() == Method::GET || req.method() == Method::HEAD {
        req.uri()
            .path()
            .strip_prefix(CHALLENGE_PREFIX)
            .and_then(|token| lock(tokens).get(token).cloned())
    } else {
        None
    };
    let (status, body) = match found {
        Some(key_authorization) => (StatusCode::OK, key_authorization),
        None => (StatusCode::NOT_FOUND, "not found\n".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

/// Writes `<webroot>/.well-known/acme-challenge/<token>` for a web server to serve.
pub(super) struct Webroot {
    root: PathBuf,
}

impl Webroot {
    pub(super) fn new(root: PathBuf) -> Webroot {
        Webroot { root }
    }

    fn path(&self, ch: &ChallengeData) -> Result<PathBuf> {
        validate_token(ch)?;
        Ok(self.root.join(CHALLENGE_DIR).join(&ch.token))
    }

    pub(super) async fn present(&self, ch: &ChallengeData) -> Result<()> {
        let path = self.path(ch)?;
        let body = ch.key_authorization.clone();
        tokio::task::spawn_blocking(move || write_challenge_file(&path, body.as_bytes()))
            .await
            .map_err(|e| Error::Bug(format!("the webroot writer task failed: {e}")))?
    }

    pub(super) async fn cleanup(&self, ch: &ChallengeData) -> Result<()> {
        let path = self.path(ch)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(
                "cannot remove the HTTP-01 challenge file",
                path,
                e,
            )),
        }
    }
}

fn write_challenge_file(path: &Path, body: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path
        .parent()
        .ok_or_else(|| Error::Bug("a challenge file path has no parent".into()))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io("cannot create the challenge directory", dir, e))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| Error::io("cannot write the HTTP-01 challenge file", path, e))?;
    file.write_all(body)
        .map_err(|e| Error::io("cannot write the HTTP-01 challenge file", path, e))?;
    // The umask may have narrowed the mode; web servers must be able to read the file.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io("cannot set the mode of the HTTP-01 challenge file", path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ChallengeData, Solvers};
    use crate::address::{Address, Kind};
    use crate::desired::model::{HttpSolverSpec, SolverSpec};
    use crate::hook_env::HookEnv;
    use std::collections::{BTreeMap, BTreeSet};
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn challenge(token: &str) -> ChallengeData {
        ChallengeData {
            domain: "example.com".into(),
            token: token.into(),
            key_authorization: format!("{token}.thumb"),
            dns_value: "dns".into(),
        }
    }

    fn solver(name: &str) -> Address {
        Address::new(Kind::HttpSolver, name)
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn webroot_writes_and_removes_and_refuses_hostile_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        let specs = BTreeMap::from([(
            solver("web"),
            SolverSpec::Http(HttpSolverSpec::Webroot {
                webroot: root.clone(),
            }),
        )]);
        let needed = BTreeSet::from([solver("web")]);
        let solvers = Solvers::start(&specs, &needed, HookEnv::default())
            .await
            .unwrap();
        assert_eq!(
            solvers.kind(&solver("web")).unwrap(),
            super::super::ChallengeKind::Http01
        );

        let ch = challenge("tok_EN-123");
        solvers.present(&solver("web"), &ch).await.unwrap();
        let file = root.join(".well-known/acme-challenge/tok_EN-123");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "tok_EN-123.thumb");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o644
        );
        solvers.cleanup(&solver("web"), &ch).await.unwrap();
        assert!(!file.exists());
        // Cleanup is idempotent.
        solvers.cleanup(&solver("web"), &ch).await.unwrap();

        for hostile in [
            "../../escape",
            "..",
            "a/b",
            "",
            "tok%2F..",
            "x.y",
            "/etc/passwd",
        ] {
            let err = solvers
                .present(&solver("web"), &challenge(hostile))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("not base64url"), "{err}");
        }
        assert!(!dir.path().join("escape").exists());
        let left: Vec<_> = std::fs::read_dir(root.join(".well-known/acme-challenge"))
            .unwrap()
            .collect();
        assert!(left.is_empty());
        solvers.shutdown().await;
    }

    #[tokio::test]
    async fn listen_serves_tokens_and_404s_then_stops() {
        // Find a free port, then let the solver bind it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let specs = BTreeMap::from([
            (
                solver("a"),
                SolverSpec::Http(HttpSolverSpec::Listen {
                    listen: listen.clone(),
                }),
            ),
            // A second solver on the same address shares the server instead of failing.
            (
                solver("b"),
                SolverSpec::Http(HttpSolverSpec::Listen {
                    listen: listen.clone(),
                }),
            ),
        ]);
        let needed = BTreeSet::from([solver("a"), solver("b")]);
        let solvers = Solvers::start(&specs, &needed, HookEnv::default())
            .await
            .unwrap();
        let addr: std::net::SocketAddr = listen.parse().unwrap();

        let ch = challenge("abcDEF_-1");
        solvers.present(&solver("a"), &ch).await.unwrap();
        let ok = get(addr, "/.well-known/acme-challenge/abcDEF_-1").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.ends_with("abcDEF_-1.thumb"), "{ok}");
        let missing = get(addr, "/.well-known/acme-challenge/other").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let elsewhere = get(addr, "/abcDEF_-1").await;
        assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");

        solvers.cleanup(&solver("a"), &ch).await.unwrap();
        let gone = get(addr, "/.well-known/acme-challenge/abcDEF_-1").await;
        assert!(gone.starts_with("HTTP/1.1 404"), "{gone}");

        solvers.shutdown().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn unknown_solver_and_bind_failure_are_errors() {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = holder.local_addr().unwrap().to_string();
        let specs = BTreeMap::from([(
            solver("busy"),
            SolverSpec::Http(HttpSolverSpec::Listen { listen }),
        )]);
        let err = Solvers::start(
            &specs,
            &BTreeSet::from([solver("busy")]),
            HookEnv::default(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("http_solver.busy: cannot listen on"),
            "{err}"
        );

        let solvers = Solvers::start(&specs, &BTreeSet::new(), HookEnv::default())
            .await
            .unwrap();
        assert!(solvers.kind(&solver("busy")).is_err());
    }
}
