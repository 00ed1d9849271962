//! `scripts/release package`: what goes into a release tarball, checked with a fake
//! `certform` (a shell script answering `--help`, `completions` and `man` like the real
//! one), since building the two real release binaries takes far too long for the suite.
//! README "Releases" says what has been run by hand.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// Commands `plan` and `state` (with `state list`), and clap's `help`, which has no page.
const FAKE: &str = r##"#!/bin/sh
case "$*" in
  "--help") printf 'Usage: certform <COMMAND>\n\nCommands:\n  plan   Show\n  state  Inspect\n  help   Print\n\nOptions:\n  -h, --help  Print help\n' ;;
  "state --help") printf 'Usage: certform state <COMMAND>\n\nCommands:\n  list  List\n  help  Print\n\nOptions:\n' ;;
  "plan --help"|"state list --help") printf 'Usage: certform %s\n\nOptions:\n' "$1" ;;
  completions\ *) echo "# $2 completion" ;;
  man*) shift; echo ".TH certform $*" ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"##;

fn package(fake: &Path, name: &str, out: &Path) -> Output {
    Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/release"))
        .arg("package")
        .arg(fake)
        .arg(name)
        .arg(out)
        .output()
        .unwrap()
}

fn listing(tarball: &Path) -> Vec<String> {
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(tarball)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.ends_with('/'))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_release_tarball_holds_the_binary_completions_a_page_per_command_and_the_licence() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("certform");
    fs::write(&fake, FAKE).unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.path().join("dist");

    let done = package(&fake, "certform-1.2.3-x86_64-unknown-linux-gnu", &out);
    assert!(done.status.success(), "{done:?}");
    let tarball = out.join("certform-1.2.3-x86_64-unknown-linux-gnu.tar.gz");
    let expected: Vec<String> = [
        "LICENSE",
        "certform",
        "completions/_certform",
        "completions/certform.bash",
        "completions/certform.fish",
        "man/man1/certform-plan.1",
        "man/man1/certform-state-list.1",
        "man/man1/certform-state.1",
        "man/man1/certform.1",
    ]
    .iter()
    .map(|file| format!("certform-1.2.3-x86_64-unknown-linux-gnu/{file}"))
    .collect();
    assert_eq!(listing(&tarball), expected);
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(untar.success());
    let root = unpacked.join("certform-1.2.3-x86_64-unknown-linux-gnu");
    assert_eq!(
        fs::read_to_string(root.join("man/man1/certform-state-list.1")).unwrap(),
        ".TH certform state list\n"
    );
    let mode = fs::metadata(root.join("certform"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);

    // A second tarball (the lean one) gets its own line; packaging one again replaces its
    // line; every line verifies.
    let lean = package(&fake, "certform-1.2.3-x86_64-unknown-linux-gnu-lean", &out);
    assert!(lean.status.success(), "{lean:?}");
    let again = package(&fake, "certform-1.2.3-x86_64-unknown-linux-gnu", &out);
    assert!(again.status.success(), "{again:?}");
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 2, "{sums}");
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn a_binary_that_fails_a_step_makes_no_tarball() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("certform");
    fs::write(&fake, FAKE.replace("completions\\ *)", "no-completions)")).unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.path().join("dist");
    let failed = package(&fake, "certform-broken", &out);
    assert!(!failed.status.success(), "{failed:?}");
    assert!(!out.join("certform-broken.tar.gz").exists());
}
