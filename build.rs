//! Embeds the git commit the binary is built from as `CERTFORM_COMMIT`, for
//! `certform version`; "unknown" when the source is not a git checkout (a crates.io
//! download) or git is missing.

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    println!(
        "cargo:rustc-env=CERTFORM_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points at (a
    // commit) and packed-refs (a gc). `--git-path` resolves them in worktrees too.
    println!("cargo:rerun-if-changed=build.rs");
    if commit.is_some() {
        let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
        watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
        for name in watched {
            if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
