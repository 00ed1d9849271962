//! `cargo bench --bench plan_scale`: how `certform plan` scales with the number of
//! certificates in configuration and state — a no-op plan and a plan where 1% are due —
//! as wall time and peak RSS of the real binary, median of 5 runs. Sizes default to
//! 1,000 / 10,000 / 50,000; set `CERTFORM_BENCH_SIZES=1000,10000` to choose. Certificates
//! have no `output` blocks here, so the numbers are the plan itself, not file reads.

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/measure.rs"]
#[allow(dead_code)] // plan_scale reports wall time and memory, not CPU
mod measure;

use std::process::Command;

fn plan(fixture: &fixtures::Fixture) -> measure::Run {
    measure::median(5, || {
        measure::run(
            Command::new(env!("CARGO_BIN_EXE_certform"))
                .arg("--chdir")
                .arg(&fixture.dir)
                .args(["plan", "--detailed-exitcode"])
                .env("XDG_STATE_HOME", fixture.dir.join("xdg-state"))
                .env("NO_COLOR", "1"),
        )
    })
}

fn main() {
    // Under `cargo test` (no `--bench` argument) a tiny smoke run tests the harness itself.
    let default_sizes = if fixtures::full_run() {
        "1000,10000,50000"
    } else {
        "20,40"
    };
    let sizes: Vec<usize> = std::env::var("CERTFORM_BENCH_SIZES")
        .unwrap_or_else(|_| default_sizes.into())
        .split(',')
        .map(|s| s.trim().parse().expect("CERTFORM_BENCH_SIZES: numbers"))
        .collect();
    println!(
        "| certificates | no-op plan (s) | peak RSS (MiB) | plan, 1% due (s) | peak RSS (MiB) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let mut first: Option<(usize, f64)> = None;
    for n in sizes {
        let noop = plan(&fixtures::fixture(n, 0));
        let due = plan(&fixtures::fixture(n, 1));
        println!(
            "| {n} | {} | {:.0} | {} | {:.0} |",
            measure::seconds(noop.wall),
            noop.peak_rss_kib as f64 / 1024.0,
            measure::seconds(due.wall),
            due.peak_rss_kib as f64 / 1024.0
        );
        match first {
            None => first = Some((n, noop.wall.as_secs_f64())),
            Some((n0, t0)) => println!(
                "growth {n0} -> {n}: {:.1}x the certificates, {:.1}x the time",
                n as f64 / n0 as f64,
                noop.wall.as_secs_f64() / t0
            ),
        }
    }
}
