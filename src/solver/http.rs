//! HTTP-01 (RFC 8555 §8.3): the built-in server (`listen`) and the `webroot` writer.
//!
//! Both face the network or a directory others write to. The server gives each connection
//! [`CONNECTION_TIME`] to send its request and take the answer (a validator needs
//! milliseconds; a slowloris client must not hold sockets for the whole apply) and serves
//! at most [`MAX_CONNECTIONS`] at once, closing any beyond. The webroot writer walks
//! `.well-known/acme-challenge` from the configured root with `openat` and `O_NOFOLLOW`:
//! a symbolic link planted there (by whoever else writes the webroot) is refused, never
//! followed, so certform writes and removes files only inside that directory.

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
use std::ffi::CString;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";
const CHALLENGE_DIR: &str = ".well-known/acme-challenge";
/// How long one connection to the built-in server may last, request and answer.
const CONNECTION_TIME: Duration = Duration::from_secs(10);
/// How many connections the built-in server serves at once.
const MAX_CONNECTIONS: usize = 256;

/// The built-in server's bounds on its clients.
#[derive(Debug, Clone, Copy)]
struct Limits {
    connection_time: Duration,
    max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connection_time: CONNECTION_TIME,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

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
        let task = tokio::spawn(serve(listener, tokens.clone(), Limits::default()));
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
/// closes them all. A connection beyond `limits.max_connections` is closed at once; one
/// still open after `limits.connection_time` is closed then.
async fn serve(listener: TcpListener, tokens: Tokens, limits: Limits) {
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tokens = tokens.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let response = respond(&tokens, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(limits.connection_time, connection).await;
            drop(slot);
        });
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

    pub(super) async fn present(&self, ch: &ChallengeData) -> Result<()> {
        validate_token(ch)?;
        let (root, token) = (self.root.clone(), ch.token.clone());
        let body = ch.key_authorization.clone();
        crate::runtime::blocking(move || write_challenge_file(&root, &token, body.as_bytes())).await
    }

    pub(super) async fn cleanup(&self, ch: &ChallengeData) -> Result<()> {
        validate_token(ch)?;
        let (root, token) = (self.root.clone(), ch.token.clone());
        crate::runtime::blocking(move || remove_challenge_file(&root, &token)).await
    }
}

/// Writes the challenge file `token` (0644) in `<root>/.well-known/acme-challenge`. A file
/// already there (a planted hard or symbolic link) is removed first, then the file is
/// created anew (`O_EXCL | O_NOFOLLOW`), so nothing outside that directory is written.
fn write_challenge_file(root: &Path, token: &str, body: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(CHALLENGE_DIR).join(token);
    let failed = |e| Error::io("cannot write the HTTP-01 challenge file", &path, e);
    std::fs::create_dir_all(root).map_err(|e| Error::io("cannot create the webroot", root, e))?;
    let dir = challenge_dir(root, true)?.expect("a created directory is there");
    let name = c_name(token);
    unlink_at(&dir, &name).map_err(failed)?;
    // SAFETY: `dir` is an open directory and `name` a NUL-terminated file name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    };
    let mut file = std::fs::File::from(owned(fd).map_err(failed)?);
    file.write_all(body).map_err(failed)?;
    // The umask may have narrowed the mode; web servers must be able to read the file.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| {
            Error::io(
                "cannot set the mode of the HTTP-01 challenge file",
                &path,
                e,
            )
        })
}

/// Removes the challenge file `token`, if it and its directory are there.
fn remove_challenge_file(root: &Path, token: &str) -> Result<()> {
    let path = root.join(CHALLENGE_DIR).join(token);
    match challenge_dir(root, false)? {
        None => Ok(()),
        Some(dir) => unlink_at(&dir, &c_name(token))
            .map_err(|e| Error::io("cannot remove the HTTP-01 challenge file", path, e)),
    }
}

/// `<root>/.well-known/acme-challenge`, opened one component at a time without following a
/// symbolic link; each missing component is created (0755) when `create`, else `None`.
fn challenge_dir(root: &Path, create: bool) -> Result<Option<OwnedFd>> {
    let mut dir: OwnedFd = std::fs::File::open(root)
        .map_err(|e| Error::io("cannot open the webroot", root, e))?
        .into();
    let mut path = root.to_path_buf();
    for component in CHALLENGE_DIR.split('/') {
        path.push(component);
        let name = c_name(component);
        let open = |dir: &OwnedFd| {
            // SAFETY: `dir` is an open directory and `name` a NUL-terminated file name.
            owned(unsafe {
                libc::openat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            })
        };
        let opened = match open(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                // SAFETY: as above; mkdirat never follows the last component.
                if unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
                    let e = std::io::Error::last_os_error();
                    // Made meanwhile by someone else: opening it checks what it is.
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        return Err(Error::io("cannot create the challenge directory", path, e));
                    }
                }
                open(&dir)
            }
            other => other,
        };
        dir = match opened {
            Ok(next) => next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                return Err(Error::Solver(format!(
                    "{} is not a directory (a symbolic link there is not followed); \
                     refusing to write HTTP-01 challenge files through it",
                    path.display()
                )))
            }
            Err(e) => return Err(Error::io("cannot open the challenge directory", path, e)),
        };
    }
    Ok(Some(dir))
}

/// Removes `name` from `dir` (the link itself, never what it points to); absent is fine.
fn unlink_at(dir: &OwnedFd, name: &CString) -> std::io::Result<()> {
    // SAFETY: `dir` is an open directory and `name` a NUL-terminated file name.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error() {
        e if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        e => Err(e),
    }
}

/// A file descriptor returned by a libc call, or the error it set.
fn owned(fd: libc::c_int) -> std::io::Result<OwnedFd> {
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor the call just opened, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A validated token or a constant path component: no NUL byte.
fn c_name(name: &str) -> CString {
    CString::new(name).expect("tokens and path components hold no NUL byte")
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
    async fn webroot_follows_no_symbolic_link_inside_the_challenge_directory() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let web = super::Webroot::new(dir.path().join("www"));
        let ch = challenge("tok1");

        // A symlinked `acme-challenge` directory is refused, nothing is written through it.
        std::fs::create_dir_all(dir.path().join("www/.well-known")).unwrap();
        let link = dir.path().join("www/.well-known/acme-challenge");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let err = web.present(&ch).await.unwrap_err().to_string();
        assert!(
            err.contains(
                "acme-challenge is not a directory (a symbolic link there is not followed)"
            ),
            "{err}"
        );
        assert!(web.cleanup(&ch).await.is_err());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

        // A symlinked `.well-known` likewise.
        std::fs::remove_dir_all(dir.path().join("www/.well-known")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("www/.well-known")).unwrap();
        let err = web.present(&ch).await.unwrap_err().to_string();
        assert!(err.contains(".well-known is not a directory"), "{err}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

        // A symlink planted at the token's path is replaced, its target left alone.
        std::fs::remove_file(dir.path().join("www/.well-known")).unwrap();
        let victim = elsewhere.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let challenge_dir = dir.path().join("www/.well-known/acme-challenge");
        std::fs::create_dir_all(&challenge_dir).unwrap();
        std::os::unix::fs::symlink(&victim, challenge_dir.join("tok1")).unwrap();
        web.present(&ch).await.unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let file = challenge_dir.join("tok1");
        assert!(std::fs::symlink_metadata(&file)
            .unwrap()
            .file_type()
            .is_file());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "tok1.thumb");

        // Cleanup of a planted symlink removes the link, not its target.
        web.cleanup(&ch).await.unwrap();
        std::os::unix::fs::symlink(&victim, &file).unwrap();
        web.cleanup(&ch).await.unwrap();
        assert!(std::fs::symlink_metadata(&file).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    /// A server on a free port with `limits`; the address it listens on.
    async fn limited_server(limits: super::Limits) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(super::serve(listener, Default::default(), limits));
        addr
    }

    /// Reads until the server closes the connection (EOF or reset).
    async fn closed(stream: &mut tokio::net::TcpStream) {
        let mut buf = [0u8; 256];
        while let Ok(1..) = stream.read(&mut buf).await {}
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_request_is_disconnected() {
        let addr = limited_server(super::Limits {
            connection_time: std::time::Duration::from_millis(200),
            max_connections: 8,
        })
        .await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: x\r\nX-A: ")
            .await
            .unwrap();
        closed(&mut slow).await;
        // The server still answers others.
        let answer = get(addr, "/.well-known/acme-challenge/x").await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed() {
        let addr = limited_server(super::Limits {
            connection_time: std::time::Duration::from_secs(600),
            max_connections: 2,
        })
        .await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            held.push(stream);
        }
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        closed(&mut extra).await;
        // A slot freed is a slot served again.
        drop(held.pop());
        loop {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = stream
                .write_all(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut out = String::new();
            let _ = stream.read_to_string(&mut out).await;
            if out.starts_with("HTTP/1.1 404") {
                break;
            }
        }
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
