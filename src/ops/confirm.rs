//! Asking for `yes` before a command does what a person should approve (`apply`,
//! `force-unlock`), as Terraform asks; without a terminal to ask on, refusing rather than
//! guessing, with the flag that skips the question named in the message.

use crate::error::{Error, Result};
use std::io::{BufRead, IsTerminal, Write};

/// Asks `question` (its lines after the first indented) and waits for `yes`; `Err` with
/// `without_terminal` when standard input is not a terminal, with `cancelled` on any other
/// answer.
pub fn ask(question: &str, without_terminal: &str, cancelled: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(without_terminal.into()));
    }
    print!("\n{question}\n\n  Enter a value: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Usage(format!("cannot read the answer: {e}")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Usage(cancelled.into()))
    }
}
