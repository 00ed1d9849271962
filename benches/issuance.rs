//! `cargo bench --bench issuance`: issuing N new certificates (HTTP-01, ecdsa-p256) from a
//! local Pebble at several parallelism levels, with `certform apply` (the real release
//! binary, from a fresh state) next to the floor: a minimal instant-acme client written for
//! this benchmark that places the same orders at the same parallelism with a tuned HTTP
//! client (TCP_NODELAY) and tight polling. certform runs twice: with an `output` block per
//! certificate (cert, chain, fullchain and key written and fsynced, as users always have
//! them) and without. The three run back to back, each against a fresh Pebble, and the
//! table reports both ratios certform / floor.
//!
//! Every row is measured `--runs K` times (default 3: `cargo bench --bench issuance --
//! --runs 5`), in K passes over all rows so that a slow spell of the machine hits every
//! row alike; the table shows the medians, and each ratio is the median of the K ratios of
//! floor and certform measured back to back (printed under the table, pass by pass).
//! `--rows 50x10,200x10,1000x25` measures those rows (certificates x parallelism) instead
//! of the default grid. `--baseline PATH` also runs another certform binary (an earlier
//! build, say) with outputs in every pass, next to this one and against the same floor, so
//! a change is measured before and after in one run. `--current-pebble` runs the current
//! Pebble (`../shared/pebble/pebble` or `CERTFORM_TEST_PEBBLE`) instead of Debian's 2.4;
//! `--pebble-gomaxprocs 1` runs Pebble on one OS thread (both Pebbles hung within the
//! first few hundred of 1,000 orders at parallelism 25 otherwise, the floor's orders too;
//! on one thread they finish).
//!
//! Why a fresh Pebble each time: Pebble's in-memory store scans every authorization it
//! holds on each new order, so a long-lived Pebble slows down as the benchmark goes on, and
//! under many concurrent orders it can deadlock (a new order holding the store's read lock
//! waits for an authorization's lock while a certificate issuance waits for the store's
//! write lock). A measurement that does not finish within a time limit is retried with a
//! fresh Pebble, and the retry is reported.
//!
//! Why every run's directory is kept until the end: deleting a run's thousand files right
//! before the next measurement penalises whichever side creates files next (certform's
//! outputs and state, never the floor). On ext4 without a journal, as on this project's
//! machine, each new inode is found by scanning past every inode of its group freed in the
//! last 5 seconds, or 5 minutes while that inode's table block is not yet written back
//! (the kernel's `recently_deleted`), so a harness that cleans up as it goes measures its
//! own deletions. Files certform itself frees during a run still count. The last line of
//! the output times creating directories and files as outputs do, in the same temporary
//! directory, so a table taken after a build or a test suite freed thousands of files
//! shows it. The runs go where `TMPDIR` points (`/tmp` by default): on this machine `/tmp`,
//! churned by every test run, costs ~100-160 µs per new inode while a directory under
//! `/work` costs ~13 µs, on the same file system.
//!
//! Under `cargo test` (no `--bench` argument) it runs a tiny smoke version, so the harness
//! itself is tested.

#[path = "support/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "../tests/it/support/pebble.rs"]
#[allow(dead_code)]
mod pebble;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use instant_acme::{
    Account, AuthorizationStatus, BodyWrapper, ChallengeType, Identifier, NewAccount, NewOrder,
    Order, OrderStatus,
};
use pebble::Pebble;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (sizes, levels): (&[usize], &[usize]) = if full {
        (&[10, 50, 200], &[1, 10, 25])
    } else {
        (&[3], &[1, 2])
    };
    let runs = runs(if full { 3 } else { 1 });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rows: Vec<(usize, usize)> = match option("--rows") {
        Some(rows) => rows.split(',').map(row).collect(),
        None => sizes
            .iter()
            .flat_map(|&n| levels.iter().map(move |&parallelism| (n, parallelism)))
            .collect(),
    };
    let this_build = Path::new(env!("CARGO_BIN_EXE_certform"));
    let baseline = option("--baseline").map(std::path::PathBuf::from);
    // samples[row] holds, for every pass: the floor, certform without outputs, certform with
    // outputs and, with --baseline, the baseline with outputs.
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![Vec::new(); rows.len()];
    let (mut state_writes, mut file_creations) = (Vec::new(), Vec::new());
    for pass in 1..=runs {
        eprintln!("pass {pass} of {runs}");
        state_writes.extend(state_write_latencies());
        file_creations.push(median(
            file_creation_latencies()
                .iter()
                .map(|d| d.as_secs_f64() * 1e6),
        ));
        for (row, &(n, parallelism)) in rows.iter().enumerate() {
            let floor = with_retries(|pebble| {
                let before = measure::own_cpu();
                let wall = runtime.block_on(floor(pebble, n, parallelism))?;
                Ok((wall, measure::own_cpu() - before))
            });
            let with_outputs = |binary: &Path| {
                with_retries(|pebble| certform_apply(binary, pebble, n, parallelism, true))
            };
            let bare =
                with_retries(|pebble| certform_apply(this_build, pebble, n, parallelism, false));
            let mut pass_samples = vec![floor, bare];
            match &baseline {
                None => pass_samples.push(with_outputs(this_build)),
                // Each goes first in every other pass, so neither always follows the other.
                Some(baseline) if pass % 2 == 0 => {
                    let before = with_outputs(baseline);
                    pass_samples.extend([with_outputs(this_build), before]);
                }
                Some(baseline) => {
                    pass_samples.extend([with_outputs(this_build), with_outputs(baseline)])
                }
            }
            samples[row].push(pass_samples);
        }
    }
    let (baseline_head, baseline_rule) = match &baseline {
        Some(_) => (" baseline with outputs (s) | / floor |", "---:|---:|"),
        None => ("", ""),
    };
    println!("| certificates | parallelism | floor (s) | certform, no outputs (s) | / floor | certform with outputs (s) | / floor | with outputs per certificate (ms) |{baseline_head}");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|{baseline_rule}");
    for (&(n, parallelism), samples) in rows.iter().zip(&samples) {
        let seconds = |i: usize| median(samples.iter().map(|s| s[i].wall.as_secs_f64()));
        let ratio = |i: usize| {
            median(
                samples
                    .iter()
                    .map(|s| s[i].wall.as_secs_f64() / s[0].wall.as_secs_f64()),
            )
        };
        let baseline_cells = match &baseline {
            Some(_) => format!(" {:.3} | {:.2} |", seconds(3), ratio(3)),
            None => String::new(),
        };
        println!(
            "| {n} | {parallelism} | {:.3} | {:.3} | {:.2} | {:.3} | {:.2} | {:.1} |{baseline_cells}",
            seconds(0),
            seconds(1),
            ratio(1),
            seconds(2),
            ratio(2),
            seconds(2) * 1000.0 / n as f64
        );
    }
    println!("medians of {runs} run(s)");
    // The spread behind each median: on two shared cores one pass can differ from the next
    // by more than any change measured here.
    for (&(n, parallelism), samples) in rows.iter().zip(&samples) {
        let ratios = |i: usize| {
            samples
                .iter()
                .map(|s| format!("{:.2}", s[i].wall.as_secs_f64() / s[0].wall.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let baseline_ratios = match &baseline {
            Some(_) => format!("; baseline with outputs {}", ratios(3)),
            None => String::new(),
        };
        println!(
            "{n} x {parallelism}, ratio in each pass: no outputs {}; with outputs {}{baseline_ratios}",
            ratios(1),
            ratios(2)
        );
    }
    // Pebble runs on the same cores: what each client costs in CPU is taken from the CA.
    println!();
    println!("CPU per certificate (ms, medians): each client's own, and Pebble's (with challtestsrv) while it served that client");
    println!("| certificates | parallelism | floor | Pebble | certform, no outputs | Pebble | certform with outputs | Pebble |{}", if baseline.is_some() { " baseline with outputs | Pebble |" } else { "" });
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|{baseline_rule}");
    for (&(n, parallelism), samples) in rows.iter().zip(&samples) {
        let per_certificate = |cpu: fn(&Sample) -> Duration, i: usize| {
            median(
                samples
                    .iter()
                    .map(|s| cpu(&s[i]).as_secs_f64() * 1000.0 / n as f64),
            )
        };
        let cells: String = (0..samples[0].len())
            .map(|i| {
                format!(
                    " {:.2} | {:.2} |",
                    per_certificate(|s| s.client_cpu, i),
                    per_certificate(|s| s.ca_cpu, i)
                )
            })
            .collect();
        println!("| {n} | {parallelism} |{cells}");
    }
    drop(std::mem::take(&mut *KEPT.lock().unwrap()));
    println!(
        "one state write on this disk (100 KB: temp file, fsync, backup, rename, directory fsync): median {:.1} ms",
        median(state_writes.iter().map(|d| d.as_secs_f64() * 1000.0))
    );
    println!(
        "creating a file or directory as outputs do, on this disk: median {:.0} µs over the passes (slowest pass {:.0} µs)",
        median(file_creations.iter().copied()),
        file_creations.iter().copied().fold(0.0, f64::max)
    );
}

/// Each certificate's outputs create five inodes, which the floor never does, and what an
/// inode costs depends on what the machine deleted lately (see the module's notes): tens of
/// microseconds normally, hundreds after a test suite or build freed thousands of files.
/// The outputs' own pattern, each inode timed: in a fresh directory (where the runs put
/// theirs), 40 directories with four empty files each. (A flat directory of files can land
/// in another block group than new directories do, and read tens of microseconds while
/// certform's outputs pay over a hundred.)
fn file_creation_latencies() -> Vec<Duration> {
    let dir = keep_until_exit(tempfile::tempdir().unwrap());
    let timed = |create: &dyn Fn()| {
        let started = Instant::now();
        create();
        started.elapsed()
    };
    (0..40)
        .flat_map(|i| {
            let output = dir.join(format!("c{i}"));
            let mut latencies = vec![timed(&|| std::fs::create_dir(&output).unwrap())];
            for name in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
                latencies.push(timed(&|| {
                    drop(std::fs::File::create_new(output.join(name)).unwrap())
                }));
            }
            latencies
        })
        .collect()
}

/// certform waits for a state write after every action and the floor writes nothing, so
/// the ratio depends on this disk's fsync latency (which other work on the machine can
/// multiply): 20 writes like certform's, timed.
fn state_write_latencies() -> Vec<Duration> {
    use certform::state::{LocalStore, StateStore};
    let dir = keep_until_exit(tempfile::tempdir().unwrap());
    let store = LocalStore::new(dir.join("probe.certstate"));
    let lock = store.lock("bench", Duration::ZERO).unwrap();
    let padding = "x".repeat(100_000);
    (0..20u64)
        .map(|serial| {
            let document = format!("{{\"serial\": {serial}, \"padding\": \"{padding}\"}}");
            let expected = serial.checked_sub(1);
            let started = Instant::now();
            store.put(&lock, expected, document.as_bytes()).unwrap();
            started.elapsed()
        })
        .collect()
}

/// The directories of every run, deleted when the benchmark ends (see the module's notes).
static KEPT: Mutex<Vec<tempfile::TempDir>> = Mutex::new(Vec::new());

fn keep_until_exit(dir: tempfile::TempDir) -> &'static Path {
    let path: &'static Path = Box::leak(dir.path().to_path_buf().into_boxed_path());
    KEPT.lock().unwrap().push(dir);
    path
}

/// `NxP` of `--rows`: N certificates at parallelism P.
fn row(text: &str) -> (usize, usize) {
    text.split_once('x')
        .and_then(|(n, p)| Some((n.parse().ok()?, p.parse().ok()?)))
        .unwrap_or_else(|| panic!("--rows takes CERTIFICATESxPARALLELISM, such as 50x10: {text:?}"))
}

/// `--runs K` from the command line, or `default`.
fn runs(default: usize) -> usize {
    option("--runs").map_or(default, |k| {
        k.parse()
            .ok()
            .filter(|&k| k > 0)
            .expect("--runs takes a whole number of at least 1")
    })
}

/// The value after `name` on the command line.
fn option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    Some(args.get(at + 1).cloned().unwrap_or_default())
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// How long one measurement of `n` certificates may take before Pebble is taken to be
/// stuck: a minute, and a tenth of a second more per certificate.
fn limit(n: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(100) * n as u32
}
const ATTEMPTS: usize = 3;

/// One measurement: wall time, the client's CPU time and the CA's.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    client_cpu: Duration,
    ca_cpu: Duration,
}

/// Runs `measure` (which returns wall time and the client's CPU time) against a fresh
/// Pebble, retrying with another fresh one when it fails.
fn with_retries(
    mut measure: impl FnMut(&Pebble) -> Result<(Duration, Duration), String>,
) -> Sample {
    let mut failures = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let mut pebble = Pebble::builder()
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        if std::env::args().any(|a| a == "--current-pebble") {
            pebble = pebble.current();
        }
        if let Some(threads) = option("--pebble-gomaxprocs") {
            pebble = pebble.env("GOMAXPROCS", &threads);
        }
        let pebble = pebble.start();
        let ca_before = pebble.cpu_time();
        match measure(&pebble) {
            Ok((wall, client_cpu)) => {
                return Sample {
                    wall,
                    client_cpu,
                    ca_cpu: pebble.cpu_time() - ca_before,
                }
            }
            Err(e) => {
                eprintln!(
                    "attempt {attempt} of {ATTEMPTS} failed, retrying with a fresh Pebble: {e}"
                );
                failures.push(e);
            }
        }
    }
    panic!("every attempt failed:\n{}", failures.join("\n"));
}

/// `binary apply --auto-approve` (a certform) of `n` new certificates from an empty state,
/// each with an `output` block writing its four files when `outputs`: its wall and CPU time.
fn certform_apply(
    binary: &Path,
    pebble: &Pebble,
    n: usize,
    parallelism: usize,
    outputs: bool,
) -> Result<(Duration, Duration), String> {
    let dir = keep_until_exit(tempfile::tempdir().unwrap());
    let mut config = format!(
        r#"account "bench" {{
  directory               = "{}"
  contact                 = ["mailto:ops@bench.test"]
  terms_of_service_agreed = true
  ca_bundle               = "{}"
}}

http_solver "web" {{
  listen = "127.0.0.1:{}"
}}
"#,
        pebble.directory_url(),
        pebble.ca_bundle_path().display(),
        pebble.http_port()
    );
    for i in 0..n {
        let output = if outputs {
            format!("  output \"files\" {{\n    directory = \"tls/c{i}\"\n  }}\n")
        } else {
            String::new()
        };
        config.push_str(&format!(
            "\ncertificate \"c{i}\" {{\n  account = account.bench\n  domains = [\"c{i}.certform.bench.test\"]\n  solvers = [http_solver.web]\n{output}}}\n"
        ));
    }
    std::fs::write(dir.join("main.hcl"), config).unwrap();
    let identity = dir.join("identity.txt");
    certform::state::generate_identity(&identity).unwrap();
    measure::run_within(
        Command::new(binary)
            .arg("--chdir")
            .arg(dir)
            .args(["-q", "apply", "--auto-approve", "--parallelism"])
            .arg(parallelism.to_string())
            .env("CERTFORM_IDENTITY", &identity)
            .env("XDG_STATE_HOME", dir.join("xdg-state"))
            .env("NO_COLOR", "1"),
        Some(limit(n)),
    )
    .map(|run| (run.wall, run.cpu))
}

type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// The floor: the same orders through instant-acme alone, at the same parallelism.
async fn floor(pebble: &Pebble, n: usize, parallelism: usize) -> Result<Duration, String> {
    let tokens: Tokens = Arc::default();
    let server = tokio::spawn(serve_http01(pebble.http_port(), tokens.clone()));
    let started = Instant::now();
    let all = async {
        let account = Arc::new(account(pebble).await);
        let limit = Arc::new(tokio::sync::Semaphore::new(parallelism));
        let mut orders = tokio::task::JoinSet::new();
        for i in 0..n {
            let (account, tokens, limit) = (account.clone(), tokens.clone(), limit.clone());
            orders.spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                issue(&account, &format!("c{i}.floor.bench.test"), &tokens).await
            });
        }
        while let Some(done) = orders.join_next().await {
            done.map_err(|e| format!("an order of the floor failed: {e}"))?;
        }
        Ok(started.elapsed())
    };
    // The bare client has no timeouts of its own: a stuck Pebble would hang it for good.
    let result = tokio::time::timeout(limit(n), all)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the floor's {n} orders did not finish within {:?}",
                limit(n)
            ))
        });
    server.abort();
    let _ = server.await;
    result
}

async fn account(pebble: &Pebble) -> Account {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(pebble.ca_bundle_path()).unwrap();
    for cert in certform::pem::certificates(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, BodyWrapper<Bytes>>(https);
    let (account, _credentials) = Account::builder_with_http(Box::new(client))
        .create(
            &NewAccount {
                contact: &["mailto:floor@bench.test"],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            pebble.directory_url(),
            None,
        )
        .await
        .unwrap();
    account
}

async fn issue(account: &Account, name: &str, tokens: &Tokens) {
    let identifiers = [Identifier::Dns(name.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.unwrap();
        if authz.status != AuthorizationStatus::Pending {
            continue;
        }
        let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
        let token = challenge.token.clone();
        let key_authorization = challenge.key_authorization().as_str().to_string();
        tokens.lock().unwrap().insert(token, key_authorization);
        challenge.set_ready().await.unwrap();
    }
    assert_eq!(
        wait_for(&mut order, |s| s != OrderStatus::Pending).await,
        OrderStatus::Ready
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    order.finalize_csr(csr.der()).await.unwrap();
    assert_eq!(
        wait_for(&mut order, |s| s != OrderStatus::Processing
            && s != OrderStatus::Ready)
        .await,
        OrderStatus::Valid
    );
    order.certificate().await.unwrap().expect("a certificate");
}

/// Polls the order from 10 ms, doubling up to 250 ms, until `done` (at most a minute).
/// instant-acme's own `RetryPolicy` has no ceiling on its delay, so under load its sleeps
/// grow past anything a benchmark should measure.
async fn wait_for(order: &mut Order, done: impl Fn(OrderStatus) -> bool) -> OrderStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut delay = Duration::from_millis(10);
    loop {
        let status = order.refresh().await.unwrap().status;
        if done(status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the order is stuck in {status:?}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// Answers `GET /.well-known/acme-challenge/<token>` from `tokens`.
async fn serve_http01(port: u16, tokens: Tokens) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let token = Path::new(req.uri().path())
                    .file_name()
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let answer = tokens.lock().unwrap().get(&token).cloned();
                async move {
                    Ok::<_, std::convert::Infallible>(match answer {
                        Some(body) => Response::new(Full::new(Bytes::from(body))),
                        None => Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::new()))
                            .unwrap(),
                    })
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
