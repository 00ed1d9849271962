//! The age identity that opens the secret half of the state: where it is looked up
//! (`--identity`, `CERTFORM_IDENTITY`, `CERTFORM_IDENTITY_KEY`, the default file), how an
//! identity file is parsed (age X25519 keys and unencrypted OpenSSH ed25519 / RSA keys), and
//! `init`'s generation of a new X25519 identity.

use crate::error::{Error, Result};
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable naming an identity file.
pub const ENV_IDENTITY: &str = "CERTFORM_IDENTITY";
/// Environment variable holding the identity text itself (for CI secrets).
pub const ENV_IDENTITY_KEY: &str = "CERTFORM_IDENTITY_KEY";

/// One or more age identities (secret keys) and where they came from.
pub struct Identity {
    source: String,
    keys: Vec<Box<dyn age::Identity + Send + Sync>>,
    recipients: Vec<String>,
    first_x25519: Option<String>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("source", &self.source)
            .field("recipients", &self.recipients)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Where the identity came from, as a user would name it: `--identity /x/y`,
    /// `CERTFORM_IDENTITY=/x/y`, `CERTFORM_IDENTITY_KEY` or the default file's path.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The recipient string (`age1...`) of the first X25519 identity, if there is one.
    pub fn recipient(&self) -> Option<String> {
        self.first_x25519.clone()
    }

    /// The recipient strings of every key in the identity (`age1...`, `ssh-ed25519 ...`).
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| k.as_ref() as &dyn age::Identity)
    }

    /// Parses identity text: one `AGE-SECRET-KEY-1...` per line and/or unencrypted OpenSSH
    /// (ed25519, RSA) private key blocks; blank lines and `#` comments are ignored. `source`
    /// names where the text came from in messages (never the key material itself).
    pub fn parse(text: &str, source: impl Into<String>) -> Result<Identity> {
        let source = source.into();
        let mut identity = Identity {
            source,
            keys: Vec::new(),
            recipients: Vec::new(),
            first_x25519: None,
        };
        let mut lines = text.lines().enumerate();
        while let Some((index, line)) = lines.next() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-SECRET-KEY-") {
                let key: age::x25519::Identity = line.parse().map_err(|_| {
                    Error::Identity(format!(
                        "Line {} of the identity from {} looks like an age identity but is not a valid one.",
                        index + 1,
                        identity.source
                    ))
                })?;
                let recipient = key.to_public().to_string();
                if identity.first_x25519.is_none() {
                    identity.first_x25519 = Some(recipient.clone());
                }
                identity.recipients.push(recipient);
                identity.keys.push(Box::new(key));
            } else if line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----") {
                let first_line = index + 1;
                let mut block = Zeroizing::new(String::new());
                block.push_str(line);
                block.push('\n');
                let mut closed = false;
                for (_, next) in lines.by_ref() {
                    let next = next.trim();
                    block.push_str(next);
                    block.push('\n');
                    if next.starts_with("-----END ") {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(Error::Identity(format!(
                        "The private key starting on line {first_line} of the identity from {} has no `-----END` line.",
                        identity.source
                    )));
                }
                identity.push_ssh(block.as_bytes(), first_line)?;
            } else {
                return Err(Error::Identity(format!(
                    "Line {} of the identity from {} is neither an age identity (AGE-SECRET-KEY-1...) \
                     nor the start of an OpenSSH private key.",
                    index + 1,
                    identity.source
                )));
            }
        }
        if identity.keys.is_empty() {
            return Err(Error::Identity(format!(
                "The identity from {} holds no key: it needs an AGE-SECRET-KEY-1... line or an \
                 OpenSSH private key (create one with `certform init`).",
                identity.source
            )));
        }
        Ok(identity)
    }

    fn push_ssh(&mut self, block: &[u8], line: usize) -> Result<()> {
        let parsed =
            age::ssh::Identity::from_buffer(block, Some(self.source.clone())).map_err(|_| {
                Error::Identity(format!(
                    "The private key on line {line} of the identity from {} is not an OpenSSH \
                 ed25519 or RSA private key that age can use.",
                    self.source
                ))
            })?;
        match &parsed {
            age::ssh::Identity::Unencrypted(_) => {}
            age::ssh::Identity::Encrypted(_) => {
                return Err(Error::Identity(format!(
                    "The SSH private key on line {line} of the identity from {} is protected by a \
                     passphrase, and certform does not prompt for one. Use an unencrypted copy \
                     (mode 600) or an age identity (`certform init`).",
                    self.source
                )))
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err(Error::Identity(format!(
                    "The SSH private key on line {line} of the identity from {} is of a type age \
                     does not support; use ssh-ed25519 or ssh-rsa, or an age identity.",
                    self.source
                )))
            }
        }
        if let Ok(recipient) = age::ssh::Recipient::try_from(parsed.clone()) {
            self.recipients.push(recipient.to_string());
        }
        self.keys.push(Box::new(parsed));
        Ok(())
    }
}

/// `$XDG_CONFIG_HOME/certform/identity.txt`, or `~/.config/certform/identity.txt` when
/// `XDG_CONFIG_HOME` is unset (or empty or relative, as the XDG specification asks).
pub fn default_identity_path() -> PathBuf {
    xdg_base_dir("XDG_CONFIG_HOME", ".config")
        .join("certform")
        .join("identity.txt")
}

/// The XDG base directory named by `variable` when it holds an absolute path, else
/// `~/<under_home>` (the specification's default).
pub(crate) fn xdg_base_dir(variable: &str, under_home: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            home.join(under_home)
        })
}

/// Loads the identity: `explicit` (`--identity FILE`), else `CERTFORM_IDENTITY` (a path),
/// else `CERTFORM_IDENTITY_KEY` (the key text), else [`default_identity_path`].
pub fn load_identity(explicit: Option<&Path>) -> Result<Identity> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    load_identity_with(explicit, &env, &default_identity_path())
}

/// [`load_identity`] with the environment and the default path passed in (for tests).
pub(crate) fn load_identity_with(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    default_path: &Path,
) -> Result<Identity> {
    if let Some(path) = explicit {
        return read_identity_file(path, &format!("--identity {}", path.display()));
    }
    if let Some(path) = env(ENV_IDENTITY) {
        let path = PathBuf::from(path);
        return read_identity_file(&path, &format!("{ENV_IDENTITY}={}", path.display()));
    }
    if let Some(text) = env(ENV_IDENTITY_KEY) {
        let text = Zeroizing::new(text);
        return Identity::parse(&text, ENV_IDENTITY_KEY);
    }
    if default_path.exists() {
        return read_identity_file(default_path, &default_path.display().to_string());
    }
    Err(Error::Identity(format!(
        "This command needs the age identity that decrypts the state's secrets, and none was given. \
         Pass --identity FILE, set {ENV_IDENTITY} to the path of an identity file, set \
         {ENV_IDENTITY_KEY} to the identity itself (for CI secrets), or create {} with `certform init`.",
        default_path.display()
    )))
}

fn read_identity_file(path: &Path, source: &str) -> Result<Identity> {
    let metadata = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Identity(format!(
                "The identity file given by {source} does not exist. Create one with `certform init` \
                 or point to the right file."
            )))
        }
        Err(e) => return Err(Error::io("Cannot read the identity file", path, e)),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Identity(format!(
            "The identity file {} is accessible by group or others (mode {mode:04o}), so certform \
             refuses to use it. Restrict it with `chmod 600 {}` (and consider the key exposed if \
             others could read it).",
            path.display(),
            path.display()
        )));
    }
    let bytes = Zeroizing::new(
        fs::read(path).map_err(|e| Error::io("Cannot read the identity file", path, e))?,
    );
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::Identity(format!(
            "The identity file given by {source} is not UTF-8 text."
        ))
    })?;
    Identity::parse(text, source)
}

/// Writes a new X25519 identity to `path` (mode 0600, missing parent directories created
/// with mode 0700) and returns its recipient. Refuses to overwrite an existing file.
pub fn generate_identity(path: &Path) -> Result<String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::io("Cannot create the identity's directory", parent, e))?;
    }
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let secret = {
        use age::secrecy::ExposeSecret;
        Zeroizing::new(key.to_string().expose_secret().to_string())
    };
    let text = Zeroizing::new(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        secret.as_str()
    ));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Identity(format!(
                    "The identity file {} already exists; certform will not overwrite it. Remove it \
                     first if you really mean to replace it (the state's secrets stay encrypted to \
                     the old key).",
                    path.display()
                ))
            } else {
                Error::io("Cannot create the identity file", path, e)
            }
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("Cannot write the identity file", path, e))?;
    Ok(recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_then_load_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/identity.txt");
        let recipient = generate_identity(&path).unwrap();
        assert!(recipient.starts_with("age1"));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let identity = load_identity(Some(&path)).unwrap();
        assert_eq!(identity.recipient().as_deref(), Some(recipient.as_str()));
        assert_eq!(identity.source(), format!("--identity {}", path.display()));
        let err = generate_identity(&path).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
    }

    #[test]
    fn group_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.txt");
        generate_identity(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_identity(Some(&path)).unwrap_err();
        assert!(matches!(err, Error::Identity(_)));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("chmod 600 {}", path.display())),
            "{msg}"
        );
        assert!(msg.contains("0644"), "{msg}");
    }

    #[test]
    fn lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        let default = dir.path().join("default.txt");
        let ra = generate_identity(&a).unwrap();
        let rb = generate_identity(&b).unwrap();
        let rd = generate_identity(&default).unwrap();
        let key_text = fs::read_to_string(&b).unwrap();
        let b_str = b.display().to_string();

        let env_all = |name: &str| match name {
            ENV_IDENTITY => Some(b_str.clone()),
            ENV_IDENTITY_KEY => Some(key_text.clone()),
            _ => None,
        };
        let id = load_identity_with(Some(&a), &env_all, &default).unwrap();
        assert_eq!(id.recipient(), Some(ra.clone()));
        let id = load_identity_with(None, &env_all, &default).unwrap();
        assert_eq!(id.recipient(), Some(rb.clone()));
        assert_eq!(id.source(), format!("CERTFORM_IDENTITY={b_str}"));

        let env_key = |name: &str| (name == ENV_IDENTITY_KEY).then(|| key_text.clone());
        let id = load_identity_with(None, &env_key, &default).unwrap();
        assert_eq!(id.source(), "CERTFORM_IDENTITY_KEY");
        assert_eq!(id.recipient(), Some(rb));

        let env_none = |_: &str| None;
        let id = load_identity_with(None, &env_none, &default).unwrap();
        assert_eq!(id.recipient(), Some(rd));

        let missing = dir.path().join("missing.txt");
        let err = load_identity_with(None, &env_none, &missing).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Identity(_)));
        for needle in [
            "--identity",
            ENV_IDENTITY,
            ENV_IDENTITY_KEY,
            "certform init",
        ] {
            assert!(msg.contains(needle), "{msg}");
        }
    }

    #[test]
    fn bad_lines_are_reported_without_content() {
        let err = Identity::parse("# comment\nhello secret\n", "test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Line 2"), "{err}");
        assert!(!err.contains("hello secret"), "{err}");
        let err = Identity::parse("# only a comment\n", "test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds no key"), "{err}");
    }
}
