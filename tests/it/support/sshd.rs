//! A real OpenSSH server for the `ssh` output tests: `sshd -D -e -f CONFIG` on a free
//! loopback port with a throwaway host key, accepting one throwaway user key for the user
//! the tests run as (root: `PermitRootLogin prohibit-password`), killed on drop. It writes
//! a `known_hosts` naming its host key, and another naming a different key (a host whose
//! key changed). The "remote" file system is this machine's, so tests read delivered files
//! directly. It never skips: without `sshd`, `ssh` or `ssh-keygen` it panics with how to
//! install them.

use super::pebble::find_on_path;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOT_INSTALLED: &str = "OpenSSH is not installed: run 'apt-get install -y openssh-server openssh-client' (Debian) — the ssh output tests start a real sshd and deliver with the ssh client";

pub struct Sshd {
    dir: tempfile::TempDir,
    sshd: Child,
    port: u16,
}

impl Sshd {
    pub fn start() -> Sshd {
        for program in ["ssh", "ssh-keygen"] {
            if find_on_path(program).is_none() {
                panic!("{NOT_INSTALLED}");
            }
        }
        if sshd_program().is_none() {
            panic!("{NOT_INSTALLED}");
        }
        let mut failures = Vec::new();
        // A port chosen free may be taken before sshd binds it: try again with another.
        for _ in 0..3 {
            match Sshd::try_start() {
                Ok(sshd) => return sshd,
                Err(why) => failures.push(why),
            }
        }
        panic!("sshd did not start:\n{}", failures.join("\n---\n"));
    }

    fn try_start() -> Result<Sshd, String> {
        let dir = tempfile::Builder::new()
            .prefix("certform-sshd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        for (key, comment) in [("host_key", "test-host"), ("other_host_key", "other-host")] {
            keygen(&d.join(key), comment)?;
        }
        keygen(&d.join("user_key"), "test-user")?;
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys"))
            .map_err(|e| e.to_string())?;
        // sshd refuses to start without its privilege separation directory; a fresh
        // machine where the package's service never ran has none.
        std::fs::create_dir_all("/run/sshd").map_err(|e| format!("create /run/sshd: {e}"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {d}/host_key\n\
             PidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             LogLevel VERBOSE\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).map_err(|e| e.to_string())?;
        for (file, key) in [
            ("known_hosts", "host_key"),
            ("other_known_hosts", "other_host_key"),
        ] {
            let public =
                std::fs::read_to_string(d.join(format!("{key}.pub"))).map_err(|e| e.to_string())?;
            std::fs::write(d.join(file), format!("[127.0.0.1]:{port} {public}"))
                .map_err(|e| e.to_string())?;
        }
        let log = std::fs::File::create(d.join("sshd.log")).map_err(|e| e.to_string())?;
        let sshd = Command::new(sshd_program().expect("checked in start"))
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn sshd: {e}"))?;
        let mut server = Sshd { dir, sshd, port };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = server.sshd.try_wait() {
                return Err(format!("sshd exited with {status}:\n{}", server.log()));
            }
            if server.log().contains("Server listening")
                && TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("sshd did not listen within 15s:\n{}", server.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user the tests run as, whom the server lets in with [`Sshd::identity_file`].
    pub fn user(&self) -> String {
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into())
    }

    /// The private half of the user key the server accepts.
    pub fn identity_file(&self) -> PathBuf {
        self.dir.path().join("user_key")
    }

    /// A known_hosts file naming this server's host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// A known_hosts file naming another key for this server (its key "changed").
    pub fn wrong_known_hosts(&self) -> PathBuf {
        self.dir.path().join("other_known_hosts")
    }

    /// A directory private to this server, to deliver files into ("remote" paths).
    pub fn remote_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("remote").join(name)
    }

    /// The private key files this server's test keys live in (for leak scans).
    pub fn private_keys(&self) -> Vec<String> {
        ["host_key", "other_host_key", "user_key"]
            .iter()
            .map(|k| std::fs::read_to_string(self.dir.path().join(k)).unwrap())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The attributes every `ssh` output of a test names to reach this server.
    pub fn output_attributes(&self) -> String {
        format!(
            "host = \"{}\"\n    port = {}\n    user = \"{}\"\n    identity_file = \"{}\"\n    known_hosts = \"{}\"",
            self.host(),
            self.port,
            self.user(),
            self.identity_file().display(),
            self.known_hosts().display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

/// sshd must be started by its absolute path (it re-executes itself).
fn sshd_program() -> Option<PathBuf> {
    find_on_path("sshd").or_else(|| {
        let sbin = Path::new("/usr/sbin/sshd");
        sbin.exists().then(|| sbin.to_path_buf())
    })
}

fn keygen(path: &Path, comment: &str) -> Result<(), String> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
