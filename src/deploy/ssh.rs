//! The `ssh` output kind: delivers certificate files to a host by running the system
//! OpenSSH client, so users reach their hosts the way they always do (their key file or
//! agent, their `~/.ssh/config`). The host key must already be known (`BatchMode`,
//! `StrictHostKeyChecking=yes`): an unknown or changed key is refused, never learnt. Each
//! file is written atomically by a small POSIX `sh` script on the remote side (a temporary
//! file in the target directory, owner and mode set before a byte is written, then a
//! rename); file contents travel on the session's stdin, never on a command line. Drift is
//! read back as each remote file's sha256 and mode; only digests leave the host.

use super::remote::{BoxFuture, Delivery, RemoteKind};
use super::{file_content, sha256_hex};
use crate::child::{GroupKiller, Tail};
use crate::desired::model::{OutputFileKind, OutputKind, OutputSpec};
use crate::error::{Error, Result};
use crate::plan::RemoteSeen as PlanRemoteSeen;
use crate::state::model::RemoteDelivery;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// How long one ssh session (connect, write or read every file, or the reload command) may
/// take unless the output sets `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where an `ssh` output delivers, and how certform logs in there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshTarget {
    pub host: String,
    /// `None`: the port of `~/.ssh/config`, else 22.
    pub port: Option<u16>,
    /// `None`: the user of `~/.ssh/config`, else the local user name.
    pub user: Option<String>,
    /// The private key file to log in with (`None`: the agent and ssh's defaults).
    pub identity_file: Option<PathBuf>,
    /// Where the host's key is looked up (`None`: the user's known_hosts files).
    pub known_hosts: Option<PathBuf>,
    pub timeout: Duration,
}

/// One file to write on the remote host.
pub struct RemoteFile<'a> {
    /// An absolute path on the remote host.
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub mode: u32,
}

/// What a remote file turned out to be when observed for drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSeen {
    Regular {
        sha256: String,
        mode: u32,
        owner: String,
        group: String,
    },
    Missing,
    Unusable {
        why: String,
    },
}

/// Writes each file on the remote side: `sh -c DELIVER certform OWNER GROUP` then, per file,
/// `PATH MODE SIZE`; the contents follow one another on stdin. Missing directories are
/// created (0755). A file is replaced only once it is complete, so a broken connection
/// leaves the previous file in place.
const DELIVER: &str = r#"set -e; umask 077; owner=$1; group=$2; shift 2; tmp=; trap 'if [ -n "$tmp" ]; then rm -f -- "$tmp"; fi' EXIT; while [ $# -gt 0 ]; do path=$1; mode=$2; size=$3; shift 3; dir=$(dirname -- "$path"); (umask 022; mkdir -p -- "$dir"); tmp="$path.certform-tmp.$$"; rm -f -- "$tmp"; (set -C; : > "$tmp"); if [ -n "$owner" ]; then chown -- "$owner" "$tmp"; fi; if [ -n "$group" ]; then chgrp -- "$group" "$tmp"; fi; chmod -- "$mode" "$tmp"; dd bs=1 count="$size" of="$tmp" 2>/dev/null; got=$(wc -c < "$tmp"); if [ $got -ne "$size" ]; then echo "$path: the connection ended after $got of $size bytes" >&2; exit 1; fi; mv -f -- "$tmp" "$path"; tmp=; done"#;

/// Prints one line per path argument: `file SHA256 MODE OWNER GROUP`, `missing`, or what
/// else is there.
/// Symbolic links are reported, not followed (a planted link is drift, not the file).
const OBSERVE: &str = r#"for p; do if [ -L "$p" ]; then echo link; elif [ ! -e "$p" ]; then echo missing; elif [ ! -f "$p" ]; then echo other; elif h=$(sha256sum < "$p" 2>/dev/null || shasum -a 256 < "$p" 2>/dev/null); then m=$(stat -c '%a %U %G' -- "$p" 2>/dev/null || stat -f '%Lp %Su %Sg' -- "$p"); echo "file ${h%% *} $m"; else echo unreadable; fi; done"#;

impl SshTarget {
    /// `user@host:port`, as messages and plan reasons name the host.
    pub fn destination(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{user}{}{port}", self.host)
    }

    /// `ssh OPTIONS -- HOST REMOTE`: no prompts (`BatchMode`), host keys checked strictly.
    fn command(&self, remote: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ssh");
        command.args([
            "-T",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ]);
        let connect = self.timeout.as_secs().max(1);
        command.arg("-o").arg(format!("ConnectTimeout={connect}"));
        if let Some(known_hosts) = &self.known_hosts {
            // Quoted as ssh_config words are, so a path with spaces stays one file.
            command
                .arg("-o")
                .arg(format!("UserKnownHostsFile=\"{}\"", known_hosts.display()));
        }
        if let Some(identity) = &self.identity_file {
            command
                .arg("-i")
                .arg(identity)
                .args(["-o", "IdentitiesOnly=yes"]);
        }
        if let Some(port) = self.port {
            command.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &self.user {
            command.arg("-l").arg(user);
        }
        command.arg("--").arg(&self.host).arg(remote);
        // ssh passes on only what `SendEnv` names, but the identity is never its business.
        command.env_remove(crate::state::ENV_IDENTITY_KEY);
        command
    }

    /// Runs `remote` (a command line for the remote shell) with `input` on its stdin, and
    /// returns its stdout; a failure says whether ssh could not get in or the command failed.
    async fn run(&self, remote: &str, input: &[u8], doing: &str) -> Result<Vec<u8>> {
        let destination = self.destination();
        let mut child = self
            .command(remote)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::Deploy(format!(
                    "Cannot {doing} on {destination}: the OpenSSH client (ssh) could not \
                     start: {e}. Install it (Debian: apt-get install openssh-client)."
                ))
            })?;
        let mut group = GroupKiller(child.id());
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let talk = async {
            let write = async {
                // A remote side that stopped reading shows in its exit status instead.
                let _ = stdin.write_all(input).await;
                drop(stdin);
            };
            let mut out = Vec::new();
            let mut err = Vec::new();
            let (_, _, _) = tokio::join!(
                write,
                stdout.read_to_end(&mut out),
                stderr.read_to_end(&mut err)
            );
            (out, err, child.wait().await)
        };
        let (out, err, status) = match tokio::time::timeout(self.timeout, talk).await {
            Ok(done) => done,
            Err(_) => {
                return Err(Error::Deploy(format!(
                    "Cannot {doing} on {destination}: ssh did not finish within {} and was \
                     killed (set `timeout` on the output to allow longer).",
                    crate::config::duration::format_duration(self.timeout)
                )))
            }
        };
        group.0 = None;
        let status = status.map_err(|e| Error::Deploy(format!("ssh to {destination}: {e}")))?;
        if status.success() {
            return Ok(out);
        }
        let mut tail = Tail::default();
        tail.push(&err);
        Err(Error::Deploy(self.failure(
            status.code(),
            &tail.text(),
            doing,
        )))
    }

    /// The message for a failed session: a refused host key, a failed login, or a remote
    /// command that failed.
    fn failure(&self, code: Option<i32>, stderr: &str, doing: &str) -> String {
        let destination = self.destination();
        let known_hosts = self
            .known_hosts
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "your known_hosts files".into());
        if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            format!(
                "Cannot {doing} on {destination}: its host key differs from the one in \
                 {known_hosts}. certform refuses a changed host key (someone may be \
                 intercepting the connection, or the host was reinstalled): verify the new \
                 key out of band before replacing the old one."
            )
        } else if stderr.contains("Host key verification failed") {
            format!(
                "Cannot {doing} on {destination}: its host key is not in {known_hosts}. \
                 certform refuses hosts it cannot verify: check the host's key fingerprint \
                 out of band, then add it to that file (ssh-keyscan prints it)."
            )
        } else if code == Some(255) {
            format!("Cannot {doing} on {destination}: ssh failed: {stderr}")
        } else {
            let status = code.map_or("a signal".into(), |c| format!("exit status {c}"));
            format!(
                "Cannot {doing} on {destination}: the remote command failed ({status}): {stderr}"
            )
        }
    }
}

/// Writes `files` on the host atomically, owned by `owner`/`group` (names on the remote
/// host) when given.
pub async fn deliver(
    target: &SshTarget,
    files: &[RemoteFile<'_>],
    owner: Option<&str>,
    group: Option<&str>,
) -> Result<()> {
    let mut args = vec![
        owner.unwrap_or("").to_string(),
        group.unwrap_or("").to_string(),
    ];
    let mut input = Zeroizing::new(Vec::new());
    for file in files {
        args.extend([
            file.path.to_string(),
            format!("{:o}", file.mode),
            file.bytes.len().to_string(),
        ]);
        input.extend_from_slice(file.bytes);
    }
    let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
    tracing::info!("delivering {paths:?} to {} over ssh", target.destination());
    target
        .run(&script(DELIVER, &args), &input, "write the output files")
        .await?;
    Ok(())
}

/// Reads each remote path's digest and mode (in the order given).
pub async fn observe(target: &SshTarget, paths: &[&str]) -> Result<Vec<RemoteSeen>> {
    let out = target
        .run(&script(OBSERVE, paths), &[], "read the output files")
        .await?;
    let text = String::from_utf8_lossy(&out);
    let seen: Vec<RemoteSeen> = text.lines().map(parse_seen).collect();
    if seen.len() != paths.len() {
        return Err(Error::Deploy(format!(
            "Cannot read the output files on {}: the remote shell answered {} lines for {} \
             files (is the login shell POSIX sh compatible?)",
            target.destination(),
            seen.len(),
            paths.len()
        )));
    }
    Ok(seen)
}

/// Runs the output's reload command (an argv, each word quoted for the remote shell).
pub async fn reload(target: &SshTarget, argv: &[String]) -> Result<()> {
    let line: Vec<String> = argv.iter().map(|w| quote(w)).collect();
    tracing::info!("running {argv:?} on {} over ssh", target.destination());
    target
        .run(
            &line.join(" "),
            &[],
            &format!("run reload_command {argv:?}"),
        )
        .await?;
    Ok(())
}

fn parse_seen(line: &str) -> RemoteSeen {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["missing"] => RemoteSeen::Missing,
        ["file", sha256, mode, owner, group] if sha256.len() == 64 => {
            match u32::from_str_radix(mode, 8) {
                Ok(mode) => RemoteSeen::Regular {
                    sha256: sha256.to_ascii_lowercase(),
                    mode,
                    owner: owner.to_string(),
                    group: group.to_string(),
                },
                Err(_) => RemoteSeen::Unusable {
                    why: format!("has an unreadable mode ({mode})"),
                },
            }
        }
        ["link"] => RemoteSeen::Unusable {
            why: "is a symbolic link".into(),
        },
        ["other"] => RemoteSeen::Unusable {
            why: "is not a regular file".into(),
        },
        ["unreadable"] => RemoteSeen::Unusable {
            why: "cannot be read by the ssh user (no sha256sum or shasum, or no permission)".into(),
        },
        _ => RemoteSeen::Unusable {
            why: format!("could not be observed (the remote shell said {line:?})"),
        },
    }
}

/// `sh -c 'BODY' certform 'ARG'...`: one line for the remote login shell, every word quoted.
fn script(body: &str, args: &[impl AsRef<str>]) -> String {
    let mut line = format!("sh -c {} certform", quote(body));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg.as_ref()));
    }
    line
}

/// `word` in single quotes for a POSIX shell.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `kind = "ssh"`: where on the host the files go, who owns them, and what reloads them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshOutput {
    pub target: SshTarget,
    /// An absolute directory on the host: cert.pem, chain.pem, fullchain.pem and
    /// privkey.pem inside it, or combined.pem with `format = "combined"`.
    pub directory: String,
    pub combined: bool,
    /// Of the key (or the combined file) and of the other files.
    pub key_mode: u32,
    pub mode: u32,
    /// Names on the remote host (not resolved here).
    pub owner: Option<String>,
    pub group: Option<String>,
    /// argv run on the host once per apply after every file delivered there.
    pub reload_command: Option<Vec<String>>,
}

impl SshOutput {
    /// The files delivered, with their remote paths and modes.
    pub fn files(&self) -> Vec<(OutputFileKind, String, u32)> {
        let dir = self.directory.trim_end_matches('/');
        let layout: &[(OutputFileKind, &str)] = if self.combined {
            &[(OutputFileKind::Combined, "combined.pem")]
        } else {
            &[
                (OutputFileKind::Cert, "cert.pem"),
                (OutputFileKind::Chain, "chain.pem"),
                (OutputFileKind::Fullchain, "fullchain.pem"),
                (OutputFileKind::Key, "privkey.pem"),
            ]
        };
        layout
            .iter()
            .map(|&(kind, name)| {
                let mode = match kind {
                    OutputFileKind::Cert | OutputFileKind::Chain | OutputFileKind::Fullchain => {
                        self.mode
                    }
                    _ => self.key_mode,
                };
                (kind, format!("{dir}/{name}"), mode)
            })
            .collect()
    }

    /// `ssh user@host:port:/dir (...)`: changes whenever the configuration changes where or
    /// how the files are written, so a changed output delivers again.
    pub fn target(&self) -> String {
        let mut text = format!(
            "ssh {}:{} ({}mode {:o}, key_mode {:o}",
            self.target.destination(),
            self.directory,
            if self.combined { "combined, " } else { "" },
            self.mode,
            self.key_mode
        );
        for (what, name) in [("owner", &self.owner), ("group", &self.group)] {
            if let Some(name) = name {
                text.push_str(&format!(", {what} {name}"));
            }
        }
        text.push(')');
        text
    }

    /// `remote file user@host:port:/path`, as drift reasons name a delivered file.
    pub fn describe(&self, path: &str) -> String {
        format!("remote file {}:{path}", self.target.destination())
    }
}

/// A `reload_command` on one host: run once per apply, after every `ssh` output delivered
/// there in that apply that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    pub target: SshTarget,
    pub argv: Vec<String>,
}

impl Reload {
    /// Outputs naming the same command on the same host (user, host, port) share one run.
    pub fn key(&self) -> (String, Vec<String>) {
        (self.target.destination(), self.argv.clone())
    }

    pub async fn run(&self) -> Result<()> {
        reload(&self.target, &self.argv).await
    }
}

/// The reload commands of the `ssh` outputs among `outputs`.
pub fn reloads(outputs: &[OutputSpec]) -> impl Iterator<Item = Reload> + '_ {
    outputs.iter().filter_map(|output| match &output.kind {
        OutputKind::Ssh(ssh) => ssh.reload_command.as_ref().map(|argv| Reload {
            target: ssh.target.clone(),
            argv: argv.clone(),
        }),
        _ => None,
    })
}

/// The `ssh` kind of [`crate::deploy::remote`].
pub struct SshKind;

impl RemoteKind for SshKind {
    fn name(&self) -> &'static str {
        "ssh"
    }

    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<RemoteDelivery>> {
        Box::pin(async move {
            let output = delivery.output;
            let ssh = ssh_of(output)?;
            let files = ssh.files();
            let mut contents = Vec::new();
            for (kind, _, _) in &files {
                contents.push(file_content(
                    output,
                    *kind,
                    delivery.certificate,
                    delivery.private_key,
                )?);
            }
            let remote: Vec<RemoteFile> = files
                .iter()
                .zip(&contents)
                .map(|((_, path, mode), bytes)| RemoteFile {
                    path,
                    bytes,
                    mode: *mode,
                })
                .collect();
            deliver(
                &ssh.target,
                &remote,
                ssh.owner.as_deref(),
                ssh.group.as_deref(),
            )
            .await?;
            Ok(RemoteDelivery {
                target: String::new(),
                location: format!("{}:{}", ssh.target.destination(), ssh.directory),
                serial_number: String::new(),
                items: files
                    .iter()
                    .zip(&contents)
                    .map(|((_, path, _), bytes)| (path.clone(), sha256_hex(bytes)))
                    .collect(),
            })
        })
    }

    fn observe<'a>(
        &'a self,
        output: &'a OutputSpec,
        delivered: &'a RemoteDelivery,
    ) -> BoxFuture<'a, Result<PlanRemoteSeen>> {
        Box::pin(async move {
            let ssh = ssh_of(output)?;
            let paths: Vec<&str> = delivered.items.keys().map(String::as_str).collect();
            let seen = observe(&ssh.target, &paths).await?;
            let modes: BTreeMap<String, u32> = ssh
                .files()
                .into_iter()
                .map(|(_, path, mode)| (path, mode))
                .collect();
            let mut found = BTreeMap::new();
            for (path, seen) in paths.iter().zip(seen) {
                let value = match seen {
                    RemoteSeen::Missing => continue,
                    RemoteSeen::Unusable { why } => format!("({why})"),
                    RemoteSeen::Regular {
                        sha256,
                        mode,
                        owner,
                        group,
                    } => {
                        // A file whose mode or owner is not the configured one is drift too:
                        // its digest is then reported with what differs.
                        let mut off = Vec::new();
                        if modes.get(*path).is_some_and(|&want| want != mode) {
                            off.push(format!("mode {mode:o}"));
                        }
                        if ssh.owner.as_ref().is_some_and(|o| *o != owner) {
                            off.push(format!("owner {owner}"));
                        }
                        if ssh.group.as_ref().is_some_and(|g| *g != group) {
                            off.push(format!("group {group}"));
                        }
                        if off.is_empty() {
                            sha256
                        } else {
                            format!("{sha256} ({})", off.join(", "))
                        }
                    }
                };
                found.insert(path.to_string(), value);
            }
            Ok(PlanRemoteSeen::Found(found))
        })
    }
}

/// The ssh settings of an output the remote module routed here.
fn ssh_of(output: &OutputSpec) -> Result<&SshOutput> {
    match &output.kind {
        OutputKind::Ssh(ssh) => Ok(ssh),
        other => Err(Error::Bug(format!(
            "output \"{}\" of kind {} was handed to the ssh kind",
            output.name,
            other.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn quoting_keeps_every_word_whole_through_a_shell() {
        let words = ["a b", "it's", "$(touch /tmp/x)", "", "x;y"];
        let line = script(r#"for a; do printf '%s\n' "[$a]"; done"#, &words);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[a b]\n[it's]\n[$(touch /tmp/x)]\n[]\n[x;y]\n"
        );
    }

    #[test]
    fn the_scripts_write_atomically_and_observe_locally() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("new/privkey.pem");
        let cert = dir.path().join("new/cert.pem");
        let (key, cert) = (key.to_str().unwrap(), cert.to_str().unwrap());
        let args = ["", "", key, "600", "3", cert, "644", "5"];
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(DELIVER, &args))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"KEYCERTS").unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(std::fs::read(key).unwrap(), b"KEY");
        assert_eq!(std::fs::read(cert).unwrap(), b"CERTS");
        let leftovers = std::fs::read_dir(dir.path().join("new")).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file is left");

        let meta = std::fs::metadata(key).unwrap();
        let missing = dir.path().join("new/chain.pem");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(OBSERVE, &[key, missing.to_str().unwrap()]))
            .output()
            .unwrap();
        let seen: Vec<_> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(parse_seen)
            .collect();
        assert_eq!(
            seen,
            [
                RemoteSeen::Regular {
                    sha256: super::super::sha256_hex(b"KEY"),
                    mode: 0o600,
                    owner: crate::deploy::owner::user_name(meta.uid()),
                    group: crate::deploy::owner::group_name(meta.gid()),
                },
                RemoteSeen::Missing
            ]
        );
    }

    #[test]
    fn a_short_stream_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("privkey.pem");
        std::fs::write(&key, b"OLD").unwrap();
        let args = ["", "", key.to_str().unwrap(), "600", "10"];
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(DELIVER, &args))
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"NEW").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("after 3 of 10 bytes"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&key).unwrap(), b"OLD");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
