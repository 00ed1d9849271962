//! Input variables: `variable "NAME" { type, default, description }` blocks and their
//! values, converted to the declared type. As Terraform's precedence, a later source wins:
//! the default < `CERTFORM_VAR_NAME` environment variables < the configuration directory's
//! `*.auto.vars` files (in lexical order) < `--var-file FILE` (in order) < `--var NAME=VALUE`
//! (in order). Variable files hold HCL `name = value` lines; they do not end in `.hcl`,
//! which would make them configuration.

use crate::config::{body::BodyReader, parse_file, Evaluator, SourceFile};
use crate::diag::Diagnostics;
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Block, Structure};
use hcl::edit::Span;
use hcl::eval::Evaluate;
use hcl::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A variable's declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarType {
    Any,
    String,
    Number,
    Bool,
    List(Box<VarType>),
    Map(Box<VarType>),
}

impl fmt::Display for VarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarType::Any => f.write_str("any"),
            VarType::String => f.write_str("string"),
            VarType::Number => f.write_str("number"),
            VarType::Bool => f.write_str("bool"),
            VarType::List(t) => write!(f, "list({t})"),
            VarType::Map(t) => write!(f, "map({t})"),
        }
    }
}

const TYPES: &str = "string, number, bool, list(TYPE), set(TYPE), map(TYPE) or any";

/// Reads a type expression such as `string` or `list(string)`.
pub fn parse_type(expr: &Expression) -> Option<VarType> {
    match expr {
        Expression::Variable(ident) => match ident.as_str() {
            "string" => Some(VarType::String),
            "number" => Some(VarType::Number),
            "bool" => Some(VarType::Bool),
            "any" => Some(VarType::Any),
            _ => None,
        },
        Expression::FuncCall(call) if !call.name.is_namespaced() && call.args.len() == 1 => {
            let inner = parse_type(call.args.iter().next()?)?;
            match call.name.name.as_str() {
                "list" | "set" => Some(VarType::List(Box::new(inner))),
                "map" => Some(VarType::Map(Box::new(inner))),
                _ => None,
            }
        }
        Expression::Parenthesis(inner) => parse_type(inner.inner()),
        _ => None,
    }
}

/// "a string", "a list", ... for messages.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(s) if s.starts_with(super::eval::REF_MARKER) => "a reference to a block",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Converts `value` to `ty` (numbers and bools become strings, numeric/boolean strings
/// become numbers/bools), or says why it cannot.
pub fn convert(value: Value, ty: &VarType) -> Result<Value, String> {
    let fail = |value: &Value| {
        Err(format!(
            "a value of type {ty} is required, but this is {}",
            describe(value)
        ))
    };
    match (ty, value) {
        (VarType::Any, value) => Ok(value),
        (VarType::String, Value::String(s)) => Ok(Value::String(s)),
        (VarType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (VarType::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (VarType::Number, Value::Number(n)) => Ok(Value::Number(n)),
        (VarType::Number, Value::String(s)) => match parse_number(&s) {
            Some(n) => Ok(n),
            None => Err(format!("a number is required, but {s:?} is not a number")),
        },
        (VarType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (VarType::Bool, Value::String(s)) => match s.as_str() {
            "true" | "false" => Ok(Value::Bool(s == "true")),
            _ => Err(format!(
                "a bool (true or false) is required, but {s:?} is neither"
            )),
        },
        (VarType::List(inner), Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| convert(item, inner).map_err(|e| format!("element {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (VarType::Map(inner), Value::Object(items)) => items
            .into_iter()
            .map(|(k, item)| {
                convert(item, inner)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| format!("key {k:?}: {e}"))
            })
            .collect::<Result<hcl::Map<_, _>, _>>()
            .map(Value::Object),
        (_, value) => fail(&value),
    }
}

fn parse_number(text: &str) -> Option<Value> {
    let text = text.trim();
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
    hcl::Number::from_f64(f).map(Value::Number)
}

/// Converts the text of `--var NAME=TEXT` to `ty`: strings as they are, numbers and bools
/// parsed, lists/maps/any as HCL expressions.
pub fn from_cli(text: &str, ty: &VarType) -> Result<Value, String> {
    match ty {
        VarType::String => Ok(Value::String(text.to_string())),
        VarType::Number | VarType::Bool => convert(Value::String(text.to_string()), ty),
        VarType::List(_) | VarType::Map(_) | VarType::Any => {
            let parsed = hcl::edit::parser::parse_expr(text);
            match parsed {
                Ok(expr) => {
                    let expr: hcl::Expression = expr.into();
                    match expr.evaluate(&hcl::eval::Context::new()) {
                        Ok(value) => convert(value, ty),
                        Err(_) if *ty == VarType::Any => Ok(Value::String(text.to_string())),
                        Err(err) => Err(format!("{text:?} must be a constant HCL value: {}", err.kind())),
                    }
                }
                Err(_) if *ty == VarType::Any => Ok(Value::String(text.to_string())),
                Err(err) => Err(format!(
                    "{text:?} is not an HCL value of type {ty} ({}); write lists as [\"a\", \"b\"] and maps as {{ key = \"value\" }}",
                    err.message()
                )),
            }
        }
    }
}

struct Declared<'a> {
    file: &'a SourceFile,
    block: &'a Block,
    ty: VarType,
    value: Option<Value>,
    /// A value was given but was invalid (already reported).
    failed: bool,
}

/// Determines the value of every declared variable. Undeclared inputs, invalid values and
/// variables left without a value are reported; such variables map to `None`.
pub fn evaluate_variables(
    blocks: &[(&SourceFile, &Block)],
    cli: &[(String, String)],
    var_files: &[PathBuf],
    eval: &Evaluator,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Option<Value>> {
    let mut declared: BTreeMap<String, Declared> = BTreeMap::new();
    for (file, block) in blocks {
        let name = block
            .labels
            .first()
            .map(|l| l.as_str().to_string())
            .unwrap_or_default();
        let reader = BodyReader::new(file, eval, block, format!("`variable \"{name}\"`"));
        reader.check(&["type", "default", "description"], &[], diags);
        let mut failed = false;
        let ty = match reader.attr("type") {
            None => VarType::Any,
            Some(attr) => match parse_type(&attr.value) {
                Some(ty) => ty,
                None => {
                    diags.error(
                        Some(reader.value_span(attr)),
                        "Invalid type",
                        format!("The type of a variable must be one of {TYPES}."),
                    );
                    failed = true;
                    VarType::Any
                }
            },
        };
        let mut value = None;
        if let Some(attr) = reader.attr("default") {
            match eval.eval_constant(file, &attr.value, diags) {
                Some(Value::Null) => {}
                Some(v) => match convert(v, &ty) {
                    Ok(v) => value = Some(v),
                    Err(why) => {
                        diags.error(
                            Some(reader.value_span(attr)),
                            "Invalid default value",
                            format!("The default of variable \"{name}\" does not match its type: {why}."),
                        );
                        failed = true;
                    }
                },
                None => failed = true,
            }
        }
        if let Some(attr) = reader.attr("description") {
            if let Some(v) = eval.eval_constant(file, &attr.value, diags) {
                if !v.is_string() {
                    diags.error(
                        Some(reader.value_span(attr)),
                        "Incorrect attribute value type",
                        format!(
                            "The description of a variable must be a string, but this is {}.",
                            describe(&v)
                        ),
                    );
                }
            }
        }
        declared.insert(
            name,
            Declared {
                file,
                block,
                ty,
                value,
                failed,
            },
        );
    }

    for (var_name, text) in env_inputs() {
        // Unlike `--var`, an environment variable may be meant for another configuration.
        if let Some(var) = declared.get_mut(&var_name) {
            set_from_text(var, &text, &format!("{ENV_PREFIX}{var_name}"), diags);
        }
    }
    for path in auto_var_files(eval.config_dir()).iter().chain(var_files) {
        read_var_file(path, &mut declared, eval, diags);
    }
    for (var_name, text) in cli {
        let Some(var) = declared.get_mut(var_name) else {
            diags.error(
                None,
                "Undeclared variable",
                format!(
                    "--var {var_name}=... sets a variable that the configuration does not declare. Declare it with a `variable \"{var_name}\" {{ ... }}` block, or remove the option."
                ),
            );
            continue;
        };
        set_from_text(var, text, &format!("--var {var_name}=..."), diags);
    }

    declared
        .into_iter()
        .map(|(name, var)| {
            if var.value.is_none() && !var.failed {
                diags.error(
                    Some(var.file.span(crate::config::header_span(var.block))),
                    "No value for required variable",
                    format!(
                        "The variable \"{name}\" has no default and no value was given. Set it with --var {name}=VALUE, in a --var-file or a *.auto.vars file, or with the {ENV_PREFIX}{name} environment variable, or add a default."
                    ),
                );
            }
            let value = if var.failed { None } else { var.value };
            (name, value)
        })
        .collect()
}

/// The prefix of environment variables that set input variables: `CERTFORM_VAR_email`
/// sets `variable "email"`, as Terraform's `TF_VAR_`.
pub const ENV_PREFIX: &str = "CERTFORM_VAR_";

/// How the variable files loaded without being named end: `certform.auto.vars`,
/// `prod.auto.vars`, as Terraform's `*.auto.tfvars`.
pub const AUTO_VARS_SUFFIX: &str = ".auto.vars";

/// The `CERTFORM_VAR_NAME=VALUE` environment variables, as (NAME, VALUE).
fn env_inputs() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.to_str()?.strip_prefix(ENV_PREFIX)?.to_string();
            Some((name, value.into_string().ok()?))
        })
        .collect()
}

/// The `*.auto.vars` files directly in `dir`, in lexical order.
fn auto_var_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.ends_with(AUTO_VARS_SUFFIX))
        })
        .collect();
    files.sort();
    files
}

/// Sets `var` from the text of `--var` or an environment variable, named by `origin` in
/// the message when it does not fit the type.
fn set_from_text(var: &mut Declared, text: &str, origin: &str, diags: &mut Diagnostics) {
    match from_cli(text, &var.ty) {
        Ok(v) => {
            var.value = Some(v);
            var.failed = false;
        }
        Err(why) => {
            diags.error(
                None,
                "Invalid value for variable",
                format!("The value given with {origin} does not match the variable's type: {why}."),
            );
            var.failed = true;
        }
    }
}

/// Sets the variables a variables file assigns; a name nothing declares is an error.
fn read_var_file(
    path: &Path,
    declared: &mut BTreeMap<String, Declared>,
    eval: &Evaluator,
    diags: &mut Diagnostics,
) {
    // Shown relative to the configuration directory when inside it, else as given.
    let name = path
        .strip_prefix(eval.config_dir())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    let Some(file) = parse_file(path, &name, diags) else {
        return;
    };
    for structure in file.body.iter() {
        let attr = match structure {
            Structure::Attribute(attr) => attr,
            Structure::Block(block) => {
                diags.error(
                    Some(file.span(crate::config::header_span(block))),
                    "Unexpected block",
                    "A variables file holds only `name = value` assignments.",
                );
                continue;
            }
        };
        let var_name = attr.key.as_str();
        let Some(var) = declared.get_mut(var_name) else {
            diags.error(
                Some(file.span(attr.key.span().unwrap_or(0..0))),
                "Undeclared variable",
                format!(
                    "The variables file sets \"{var_name}\", but the configuration declares no such variable. Declare it with a `variable \"{var_name}\" {{ ... }}` block, or remove this line."
                ),
            );
            continue;
        };
        let Some(value) = eval.eval_constant(&file, &attr.value, diags) else {
            var.failed = true;
            continue;
        };
        match convert(value, &var.ty) {
            Ok(v) => {
                var.value = Some(v);
                var.failed = false;
            }
            Err(why) => {
                let why =
                    format!("The value of variable \"{var_name}\" does not match its type: {why}.");
                let span = file.span(attr.value.span().unwrap_or(0..0));
                diags.error(Some(span), "Invalid value for variable", why);
                var.failed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_values_follow_the_type() {
        assert_eq!(from_cli("a b", &VarType::String), Ok(Value::from("a b")));
        assert_eq!(from_cli("42", &VarType::Number), Ok(Value::from(42)));
        assert_eq!(from_cli("true", &VarType::Bool), Ok(Value::from(true)));
        assert!(from_cli("yes", &VarType::Bool).is_err());
        assert_eq!(
            from_cli("[\"a\", \"b\"]", &VarType::List(Box::new(VarType::String))),
            Ok(Value::Array(vec![Value::from("a"), Value::from("b")]))
        );
        let map = from_cli("{ a = \"x\" }", &VarType::Map(Box::new(VarType::String))).unwrap();
        assert_eq!(map.as_object().unwrap()["a"], Value::from("x"));
        assert!(from_cli("nope", &VarType::List(Box::new(VarType::String))).is_err());
    }

    #[test]
    fn types_parse() {
        let parse = |s: &str| parse_type(&hcl::edit::parser::parse_expr(s).unwrap());
        assert_eq!(parse("string"), Some(VarType::String));
        assert_eq!(
            parse("list(string)"),
            Some(VarType::List(Box::new(VarType::String)))
        );
        assert_eq!(
            parse("map(number)"),
            Some(VarType::Map(Box::new(VarType::Number)))
        );
        assert_eq!(parse("strin"), None);
    }
}
