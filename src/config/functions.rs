//! The functions a configuration may call, Terraform's names and meanings: `env`, `file`,
//! `lower`, `upper`, `concat`, `merge`, `format`, `join`, `split`, `tolist` and `toset`.
//!
//! Each function is one Rust `fn` over evaluated arguments. The evaluator calls them itself
//! when the arguments are known up front (so a failing call is reported at the call), and
//! declares them to `hcl::eval` for calls inside `for` expressions, whose arguments are only
//! known per element. There is no set type in `hcl::Value`: `toset` returns a sorted list
//! without duplicates.
//!
//! What `env()` reads from the environment and what `file()` reads is sensitive, and so is
//! whatever a function derives from a sensitive argument ([`Function::call`]): all are
//! registered with [`crate::redact`].
//! `env()` refuses certform's identity variables and the AWS credentials (a configuration
//! has no business reading them, and they would end up in a plan or the state); `file()`
//! reads only regular files of at most [`FILE_MAX_BYTES`] inside the configuration
//! directory.

use crate::config::vars::describe;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A failed call: (summary, detail) for the diagnostic.
pub type CallError = (&'static str, String);

type Body = fn(&[Value], &Path) -> Result<Value, CallError>;

pub struct Function {
    pub name: &'static str,
    /// How to call it, for messages and the documentation.
    pub usage: &'static str,
    body: Body,
}

/// Every function, in the order the documentation lists them.
pub const FUNCTIONS: [Function; 11] = [
    Function {
        name: "env",
        usage: "env(NAME) or env(NAME, DEFAULT)",
        body: env,
    },
    Function {
        name: "file",
        usage: "file(PATH)",
        body: file,
    },
    Function {
        name: "lower",
        usage: "lower(TEXT)",
        body: lower,
    },
    Function {
        name: "upper",
        usage: "upper(TEXT)",
        body: upper,
    },
    Function {
        name: "concat",
        usage: "concat(LIST, LIST, ...)",
        body: concat,
    },
    Function {
        name: "merge",
        usage: "merge(MAP, MAP, ...)",
        body: merge,
    },
    Function {
        name: "format",
        usage: "format(SPEC, VALUES...)",
        body: format,
    },
    Function {
        name: "join",
        usage: "join(SEPARATOR, LIST)",
        body: join,
    },
    Function {
        name: "split",
        usage: "split(SEPARATOR, TEXT)",
        body: split,
    },
    Function {
        name: "tolist",
        usage: "tolist(LIST)",
        body: tolist,
    },
    Function {
        name: "toset",
        usage: "toset(LIST)",
        body: toset,
    },
];

pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

impl Function {
    /// Calls the function; relative `file()` paths resolve against `config_dir`.
    pub fn call(&self, args: &[Value], config_dir: &Path) -> Result<Value, CallError> {
        let value = (self.body)(args, config_dir)?;
        if args.iter().any(holds_sensitive) {
            // Derived from a secret (lower-cased, split, formatted): sensitive too, except
            // for the arguments' other strings passed through unchanged.
            let mut passed_through = BTreeSet::new();
            for arg in args {
                each_string(arg, &mut |text| {
                    passed_through.insert(text.to_string());
                });
            }
            each_string(&value, &mut |text| {
                if !passed_through.contains(text) {
                    crate::redact::register(text);
                }
            });
        }
        Ok(value)
    }
}

/// Calls `f` with every string in `value` (object keys too).
fn each_string(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::String(text) => f(text),
        Value::Array(items) => items.iter().for_each(|item| each_string(item, f)),
        Value::Object(map) => map.iter().for_each(|(key, item)| {
            f(key);
            each_string(item, f);
        }),
        _ => {}
    }
}

fn holds_sensitive(value: &Value) -> bool {
    let mut found = false;
    each_string(value, &mut |text| {
        found |= crate::redact::is_sensitive(text)
    });
    found
}

/// "env(NAME) or env(NAME, DEFAULT), file(PATH), ..." for messages.
pub fn listing() -> String {
    let usages: Vec<&str> = FUNCTIONS.iter().map(|f| f.usage).collect();
    usages.join(", ")
}

thread_local! {
    /// The configuration directory for `file()` calls that `hcl::eval` carries out: its
    /// function type is a plain `fn`, which cannot capture it.
    static CONFIG_DIR: RefCell<PathBuf> = RefCell::new(PathBuf::new());
}

/// Declares every function to `ctx`, for the calls `hcl::eval` makes itself.
pub fn declare(ctx: &mut Context, config_dir: &Path) {
    CONFIG_DIR.with(|dir| dir.borrow_mut().clone_from(&config_dir.to_path_buf()));
    // One plain `fn` per function: `hcl::eval` keeps function pointers, not closures.
    fn by_index<const I: usize>(args: FuncArgs) -> Result<Value, String> {
        let dir = CONFIG_DIR.with(|dir| dir.borrow().clone());
        FUNCTIONS[I].call(&args, &dir).map_err(|(_, detail)| detail)
    }
    let wrappers: [fn(FuncArgs) -> Result<Value, String>; 11] = [
        by_index::<0>,
        by_index::<1>,
        by_index::<2>,
        by_index::<3>,
        by_index::<4>,
        by_index::<5>,
        by_index::<6>,
        by_index::<7>,
        by_index::<8>,
        by_index::<9>,
        by_index::<10>,
    ];
    for (function, wrapper) in FUNCTIONS.iter().zip(wrappers) {
        let def = FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(wrapper);
        ctx.declare_func(function.name, def);
    }
}

fn usage_error(name: &str, detail: impl Into<String>) -> CallError {
    let usage = find(name).map_or("", |f| f.usage);
    (
        "Invalid function arguments",
        format!("{} Call it as {usage}.", detail.into()),
    )
}

fn one_string<'a>(name: &str, args: &'a [Value]) -> Result<&'a str, CallError> {
    match args {
        [Value::String(text)] => Ok(text),
        [other] => Err(usage_error(
            name,
            format!("{name}() takes a string, but this is {}.", describe(other)),
        )),
        _ => Err(usage_error(
            name,
            format!("{name}() takes exactly one argument."),
        )),
    }
}

/// A string, number or bool as text; other values are not text.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Variables `env()` refuses: certform's identity and the AWS credentials. `CERTFORM_*`
/// variables that hold a secret are the identity's.
const REFUSED_ENV: [&str; 6] = [
    crate::state::ENV_IDENTITY,
    crate::state::ENV_IDENTITY_KEY,
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];

fn env(args: &[Value], _: &Path) -> Result<Value, CallError> {
    let name = match args {
        [Value::String(name)] | [Value::String(name), _] => name,
        _ => {
            return Err(usage_error(
                "env",
                "env() takes the name of an environment variable and optionally a default.",
            ))
        }
    };
    if REFUSED_ENV
        .iter()
        .any(|refused| refused.eq_ignore_ascii_case(name))
    {
        let whose = if name.to_ascii_uppercase().starts_with("CERTFORM_") {
            "it holds certform's identity, which decrypts the state"
        } else {
            "it holds AWS credentials, which the AWS SDK reads from the environment itself"
        };
        return Err((
            "Environment variable not allowed",
            format!(
                "env(\"{name}\") is refused: {whose}. A configuration must not read it, as its value could reach a plan, the state or a log."
            ),
        ));
    }
    match std::env::var(name) {
        Ok(value) => {
            crate::redact::register(&value);
            Ok(Value::String(value))
        }
        // A default is written in the configuration: no secret.
        Err(_) => match args.get(1) {
            Some(default) => Ok(default.clone()),
            None => Err((
                "Environment variable not set",
                format!(
                    "The environment variable {name} is not set and env(\"{name}\") has no default. Set {name}, or give a default as env(\"{name}\", \"value\")."
                ),
            )),
        },
    }
}

/// The largest file `file()` reads: keys, certificates and tokens are far smaller.
pub const FILE_MAX_BYTES: u64 = 1024 * 1024;

fn file(args: &[Value], dir: &Path) -> Result<Value, CallError> {
    let path = one_string("file", args)?;
    read_config_file(dir, Path::new(path))
        .map(|text| {
            if !is_public_keys(&text) {
                crate::redact::register(&text);
            }
            Value::String(text)
        })
        .map_err(|why| {
            let relative = if Path::new(path).is_absolute() {
                ""
            } else {
                " (paths are relative to the configuration directory)"
            };
            (
                "Cannot read file",
                format!("file(\"{path}\") cannot read the file: {why}{relative}."),
            )
        })
}

/// Whether `text` is only public keys — age recipients or OpenSSH public keys, one a line
/// (`recipients = [file("keys/ci.pub")]`) — which are no secret: hiding them would make
/// them unreadable in messages and leave them out of the configuration digest.
fn is_public_keys(text: &str) -> bool {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .peekable();
    lines.peek().is_some()
        && lines.all(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some(recipient), None) => recipient.starts_with("age1"),
                (Some(kind), Some(key)) => {
                    (kind.starts_with("ssh-") || kind.starts_with("ecdsa-sha2-"))
                        && key.starts_with("AAAA")
                }
                _ => false,
            }
        })
}

/// Reads `path` (relative to `dir`, or absolute inside it) if it is a regular file of at
/// most [`FILE_MAX_BYTES`] inside `dir` once symbolic links are resolved, through
/// [`bounded_read`](crate::bounded_read): a FIFO neither hangs nor is read, and never more
/// than the limit is read (`/dev/zero` is refused).
fn read_config_file(dir: &Path, path: &Path) -> Result<String, String> {
    use crate::bounded_read::{read_regular, Refusal};
    let io_why = |err: std::io::Error| match err.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    };
    let dir = dir.canonicalize().map_err(io_why)?;
    let real = dir.join(path).canonicalize().map_err(io_why)?;
    if !real.starts_with(&dir) {
        return Err(
            "it is outside the configuration directory, and file() reads only files inside it"
                .to_string(),
        );
    }
    let (bytes, _) = read_regular(&real, FILE_MAX_BYTES).map_err(|refusal| match refusal {
        Refusal::Missing => "it does not exist".to_string(),
        Refusal::Unusable(why) => format!("it {why}"),
    })?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())
}

fn lower(args: &[Value], _: &Path) -> Result<Value, CallError> {
    Ok(Value::String(one_string("lower", args)?.to_lowercase()))
}

fn upper(args: &[Value], _: &Path) -> Result<Value, CallError> {
    Ok(Value::String(one_string("upper", args)?.to_uppercase()))
}

fn concat(args: &[Value], _: &Path) -> Result<Value, CallError> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        match arg {
            Value::Array(items) => out.extend(items.iter().cloned()),
            other => {
                return Err(usage_error(
                    "concat",
                    format!(
                        "concat() joins lists, but argument {} is {}.",
                        i + 1,
                        describe(other)
                    ),
                ))
            }
        }
    }
    Ok(Value::Array(out))
}

fn merge(args: &[Value], _: &Path) -> Result<Value, CallError> {
    let mut out = Map::new();
    for (i, arg) in args.iter().enumerate() {
        match arg {
            Value::Object(items) => out.extend(items.iter().map(|(k, v)| (k.clone(), v.clone()))),
            // As in Terraform: a null argument contributes nothing.
            Value::Null => {}
            other => {
                return Err(usage_error(
                    "merge",
                    format!(
                        "merge() combines maps, but argument {} is {}.",
                        i + 1,
                        describe(other)
                    ),
                ))
            }
        }
    }
    Ok(Value::Object(out))
}

/// `%s` (text), `%d` (whole number), `%q` (quoted text), `%v` (any value) and `%%`.
fn format(args: &[Value], _: &Path) -> Result<Value, CallError> {
    let Some((Value::String(spec), values)) = args.split_first() else {
        return Err(usage_error(
            "format",
            "format() takes a format string first, such as \"%s.example.com\".",
        ));
    };
    let mut values = values.iter();
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next();
        if verb == Some('%') {
            out.push('%');
            continue;
        }
        let Some(value) = values.next() else {
            return Err(usage_error(
                "format",
                format!("format({spec:?}) has more verbs than values."),
            ));
        };
        let wrong = |what: &str| {
            usage_error(
                "format",
                format!(
                    "%{} in format({spec:?}) needs {what}, but the value is {}.",
                    verb.unwrap_or(' '),
                    describe(value)
                ),
            )
        };
        match verb {
            Some('s') => out.push_str(&as_text(value).ok_or_else(|| wrong("text"))?),
            Some('q') => {
                let text = as_text(value).ok_or_else(|| wrong("text"))?;
                out.push_str(&serde_json::to_string(&text).unwrap_or(text));
            }
            Some('d') => match value {
                Value::Number(n) if n.as_i64().is_some() || n.as_u64().is_some() => {
                    out.push_str(&n.to_string())
                }
                _ => return Err(wrong("a whole number")),
            },
            Some('v') => match as_text(value) {
                Some(text) => out.push_str(&text),
                None => out.push_str(
                    &hcl::to_string(&hcl::Expression::from(value.clone())).unwrap_or_default(),
                ),
            },
            _ => {
                return Err(usage_error(
                    "format",
                    format!("format({spec:?}) uses an unknown verb; use %s, %d, %q, %v or %%."),
                ))
            }
        }
    }
    if values.next().is_some() {
        return Err(usage_error(
            "format",
            format!("format({spec:?}) was given more values than it has verbs."),
        ));
    }
    Ok(Value::String(out))
}

fn join(args: &[Value], _: &Path) -> Result<Value, CallError> {
    let (Some(Value::String(separator)), lists) = (args.first(), args.get(1..).unwrap_or(&[]))
    else {
        return Err(usage_error(
            "join",
            "join() takes a separator string first.",
        ));
    };
    if lists.is_empty() {
        return Err(usage_error("join", "join() needs a list to join."));
    }
    let mut parts = Vec::new();
    for list in lists {
        let Value::Array(items) = list else {
            return Err(usage_error(
                "join",
                format!("join() joins a list, but this is {}.", describe(list)),
            ));
        };
        for item in items {
            parts.push(as_text(item).ok_or_else(|| {
                usage_error(
                    "join",
                    format!("join() joins text, but an element is {}.", describe(item)),
                )
            })?);
        }
    }
    Ok(Value::String(parts.join(separator)))
}

fn split(args: &[Value], _: &Path) -> Result<Value, CallError> {
    let [Value::String(separator), Value::String(text)] = args else {
        return Err(usage_error(
            "split",
            "split() takes a separator and the text to split, both strings.",
        ));
    };
    if separator.is_empty() {
        return Err(usage_error("split", "split() needs a non-empty separator."));
    }
    Ok(Value::Array(
        text.split(separator.as_str()).map(Value::from).collect(),
    ))
}

fn tolist(args: &[Value], _: &Path) -> Result<Value, CallError> {
    match args {
        [Value::Array(items)] => Ok(Value::Array(items.clone())),
        [other] => Err(usage_error(
            "tolist",
            format!(
                "tolist() takes a list or set, but this is {}.",
                describe(other)
            ),
        )),
        _ => Err(usage_error(
            "tolist",
            "tolist() takes exactly one argument.",
        )),
    }
}

/// Sorted and without duplicates; elements become text, as Terraform's set of string.
fn toset(args: &[Value], _: &Path) -> Result<Value, CallError> {
    let [Value::Array(items)] = args else {
        return Err(usage_error(
            "toset",
            "toset() takes one list, such as toset([\"a.example.com\", \"b.example.com\"]).",
        ));
    };
    let mut texts = Vec::new();
    for item in items {
        texts.push(as_text(item).ok_or_else(|| {
            usage_error(
                "toset",
                format!(
                    "toset() makes a set of text, but an element is {}.",
                    describe(item)
                ),
            )
        })?);
    }
    texts.sort();
    texts.dedup();
    Ok(Value::Array(texts.into_iter().map(Value::String).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Value>) -> Result<Value, CallError> {
        find(name).unwrap().call(&args, Path::new("/"))
    }

    fn strings(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| Value::from(*s)).collect())
    }

    #[test]
    fn text_functions() {
        assert_eq!(
            call("lower", vec!["A.Example".into()]),
            Ok("a.example".into())
        );
        assert_eq!(call("upper", vec!["a".into()]), Ok("A".into()));
        assert_eq!(
            call(
                "format",
                vec!["%s-%d %q 100%%".into(), "a".into(), 7.into(), "b".into()]
            ),
            Ok("a-7 \"b\" 100%".into())
        );
        assert_eq!(
            call("join", vec![", ".into(), strings(&["a", "b"])]),
            Ok("a, b".into())
        );
        assert_eq!(
            call("split", vec![",".into(), "a,b".into()]),
            Ok(strings(&["a", "b"]))
        );
    }

    #[test]
    fn collection_functions() {
        assert_eq!(
            call("concat", vec![strings(&["a"]), strings(&["b", "c"])]),
            Ok(strings(&["a", "b", "c"]))
        );
        assert_eq!(
            call("toset", vec![strings(&["b", "a", "b"])]),
            Ok(strings(&["a", "b"]))
        );
        assert_eq!(call("tolist", vec![strings(&["b"])]), Ok(strings(&["b"])));
        let mut first = Map::new();
        first.insert("a".to_string(), Value::from(1));
        first.insert("b".to_string(), Value::from(1));
        let mut second = Map::new();
        second.insert("b".to_string(), Value::from(2));
        let merged = call(
            "merge",
            vec![Value::Object(first), Value::Null, Value::Object(second)],
        )
        .unwrap();
        let merged = merged.as_object().unwrap();
        assert_eq!(merged["a"], Value::from(1));
        assert_eq!(merged["b"], Value::from(2));
    }

    #[test]
    fn env_refuses_the_identity_and_aws_credentials() {
        for name in [
            "CERTFORM_IDENTITY_KEY",
            "CERTFORM_IDENTITY",
            "AWS_SECRET_ACCESS_KEY",
            "aws_session_token",
            "AWS_ACCESS_KEY_ID",
        ] {
            let (summary, detail) = call("env", vec![name.into(), "default".into()]).unwrap_err();
            assert_eq!(summary, "Environment variable not allowed");
            assert!(detail.starts_with(&format!("env(\"{name}\") is refused: it holds")));
        }
    }

    /// A directory with `secret.txt` and a symbolic link to a file outside it.
    fn config_dir_with_files() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("config");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(root.path().join("outside.txt"), "outside").unwrap();
        std::fs::write(dir.join("secret.txt"), "Fq7xk2-Zr8kWp-91c2b\n").unwrap();
        std::os::unix::fs::symlink(root.path().join("outside.txt"), dir.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("inside-link.txt")).unwrap();
        (root, dir)
    }

    fn read(dir: &Path, path: &str) -> Result<Value, CallError> {
        find("file").unwrap().call(&[path.into()], dir)
    }

    #[test]
    fn file_reads_only_regular_files_inside_the_configuration_directory() {
        let (root, dir) = config_dir_with_files();
        assert_eq!(
            read(&dir, "inside-link.txt"),
            Ok("Fq7xk2-Zr8kWp-91c2b\n".into())
        );
        let outside = root.path().join("outside.txt");
        for path in ["../outside.txt", "link.txt", outside.to_str().unwrap()] {
            let (summary, detail) = read(&dir, path).unwrap_err();
            assert_eq!(summary, "Cannot read file");
            assert!(
                detail.contains("it is outside the configuration directory"),
                "{detail}"
            );
        }
        let (_, detail) = read(&dir, "/dev/zero").unwrap_err();
        assert!(
            detail.contains("outside the configuration directory"),
            "{detail}"
        );
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        let (_, detail) = read(&dir, "zero").unwrap_err();
        assert!(
            detail.contains("outside the configuration directory"),
            "{detail}"
        );
        let fifo = std::ffi::CString::new(dir.join("fifo").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let (_, detail) = read(&dir, "fifo").unwrap_err();
        assert!(detail.contains("it is not a regular file"), "{detail}");
        let (_, detail) = read(&dir, ".").unwrap_err();
        assert!(detail.contains("it is not a regular file"), "{detail}");
        let big = std::fs::File::create(dir.join("big")).unwrap();
        big.set_len(FILE_MAX_BYTES + 1).unwrap();
        let (_, detail) = read(&dir, "big").unwrap_err();
        assert!(detail.contains("is larger than 1 MiB"), "{detail}");
    }

    #[test]
    fn public_keys_read_by_file_are_not_sensitive() {
        let (_root, dir) = config_dir_with_files();
        let keys =
            "# CI\nage1pubkeytestq9x8c7v6b5n4m3\nssh-ed25519 AAAAC3NzaPubKeyTest9z ci@example\n";
        std::fs::write(dir.join("ci.pub"), keys).unwrap();
        read(&dir, "ci.pub").unwrap();
        assert!(!crate::redact::is_sensitive("age1pubkeytestq9x8c7v6b5n4m3"));
        assert!(!crate::redact::is_sensitive("AAAAC3NzaPubKeyTest9z"));
        assert!(!is_public_keys("age1abc\nAGE-SECRET-KEY-1ABC\n"));
        assert!(!is_public_keys("\n"));
    }

    #[test]
    fn what_file_reads_and_what_is_derived_from_it_is_sensitive() {
        let (_root, dir) = config_dir_with_files();
        let secret = read(&dir, "secret.txt").unwrap();
        assert!(crate::redact::is_sensitive("Fq7xk2-Zr8kWp-91c2b"));
        let upper = call("upper", vec![secret.clone()]).unwrap();
        assert!(crate::redact::is_sensitive(upper.as_str().unwrap()));
        let parts = call("split", vec!["-".into(), secret.clone()]).unwrap();
        // "91c2b\n" is a part of the secret, registered on its own (unit tests share the
        // registry: the secret's parts are no words other tests use).
        assert_eq!(
            crate::redact::text("id 91c2b or 91C2B"),
            "id (sensitive) or (sensitive)"
        );
        assert_eq!(parts.as_array().unwrap().len(), 3);
        // Strings passed through beside a secret stay as they are.
        call("concat", vec![strings(&["plain-text-kept"]), parts]).unwrap();
        assert!(!crate::redact::is_sensitive("plain-text-kept"));
    }

    #[test]
    fn wrong_arguments_say_how_to_call() {
        let (summary, detail) = call("lower", vec![Value::from(1), Value::from(2)]).unwrap_err();
        assert_eq!(summary, "Invalid function arguments");
        assert!(detail.ends_with("Call it as lower(TEXT)."), "{detail}");
        let (_, detail) = call("format", vec!["%s %s".into(), "a".into()]).unwrap_err();
        assert!(detail.contains("more verbs than values"), "{detail}");
        assert!(call("concat", vec!["a".into()]).is_err());
        assert!(call("toset", vec![Value::Array(vec![strings(&["a"])])]).is_err());
    }
}
