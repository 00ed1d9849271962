//! Every byte shown to a user: plans (text, Markdown, JSON), drift, metrics, apply progress and results, state
//! views and diagnostics. Colour is decided once, by the caller, through [`Style`].

pub mod apply;
pub mod diagnostics;
pub mod drift;
pub mod graph;
pub mod markdown;
pub mod metrics;
pub mod plan;
pub mod state;
pub mod unattended;

use crate::plan::Action;

/// Whether to emit ANSI colours (a TTY without `--no-color` / `NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn added(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn removed(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn changed(self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn action(self, action: Action, text: &str) -> String {
        match action {
            Action::Create | Action::Issue => self.added(text),
            Action::Revoke | Action::Delete | Action::Deactivate => self.removed(text),
            Action::Update
            | Action::Renew
            | Action::Redeploy
            | Action::Reissue
            | Action::RotateKey => self.changed(text),
        }
    }
}

/// An error as `main` prints it: once, with its causes, sensitive values hidden.
/// Configuration diagnostics are already rendered (and hidden) and are printed as they are.
pub fn error(error: &crate::Error, style: Style) -> String {
    if let crate::Error::Config { rendered, .. } = error {
        return rendered.clone();
    }
    let mut text = format!("{} {error}", style.removed(&style.bold("Error:")));
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // A cause the message already quotes (an I/O error) is not printed twice.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!("\n  caused by: {cause_text}"));
        }
        source = cause.source();
    }
    text.push('\n');
    crate::redact::text(&text).into_owned()
}
