//! A real PowerDNS Authoritative Server for the `powerdns` provider's tests: `pdns_server`
//! in the foreground with the sqlite3 backend, answering DNS on a free loopback port and
//! serving its HTTP API (`api=yes`, `webserver=yes`, key [`API_KEY`]) on another, with one
//! zone whose apex, wildcard and `ns1` point at 127.0.0.1. Killed on drop. Point Pebble at
//! it (`PebbleBuilder::dns_server`) so validation sees what certform wrote. It never
//! skips: without `pdns_server`, its sqlite3 backend or `sqlite3` (which creates the
//! database) it panics with how to install them.

use super::pebble::{find_on_path, free_tcp_and_udp_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOT_INSTALLED: &str = "PowerDNS is not installed: run 'apt-get install -y pdns-server pdns-backend-sqlite3 sqlite3 bind9-dnsutils' (Debian) — the powerdns tests need a real pdns_server with its sqlite3 backend, sqlite3 to create its database and dig";

/// Where Debian's pdns-backend-sqlite3 keeps the schema of the database.
const SCHEMA: &str = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql";

/// The API key the server accepts: a test key, not a secret.
pub const API_KEY: &str = "certform-pdns-test-api-key-7Qx2";

pub struct Pdns {
    dir: tempfile::TempDir,
    server: Child,
    dns_port: u16,
    api_port: u16,
    zone: String,
}

fn program(name: &str) -> PathBuf {
    find_on_path(name)
        .or_else(|| {
            let sbin = PathBuf::from(format!("/usr/sbin/{name}"));
            sbin.exists().then_some(sbin)
        })
        .unwrap_or_else(|| panic!("{NOT_INSTALLED}"))
}

impl Pdns {
    /// Start PowerDNS authoritative for `zone`.
    pub fn start(zone: &str) -> Pdns {
        for name in ["pdns_server", "pdnsutil", "sqlite3", "dig"] {
            program(name);
        }
        if !Path::new(SCHEMA).exists() {
            panic!("{NOT_INSTALLED} ({SCHEMA} is missing)");
        }
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Pdns::try_start(zone) {
                Ok(pdns) => return pdns,
                Err(why) => failures.push(why),
            }
        }
        panic!("PowerDNS did not start:\n{}", failures.join("\n---\n"));
    }

    fn try_start(zone: &str) -> Result<Pdns, String> {
        let dir = tempfile::Builder::new()
            .prefix("certform-pdns-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path().display();
        let database = dir.path().join("pdns.sqlite3");
        let schema = std::fs::File::open(SCHEMA).map_err(|e| e.to_string())?;
        let created = Command::new(program("sqlite3"))
            .arg(&database)
            .stdin(schema)
            .output()
            .map_err(|e| format!("sqlite3: {e}"))?;
        if !created.status.success() {
            return Err(format!(
                "sqlite3 could not create the database: {}",
                String::from_utf8_lossy(&created.stderr)
            ));
        }
        let dns_port = free_tcp_and_udp_port();
        let api_port = free_tcp_and_udp_port();
        let conf = format!(
            "launch=gsqlite3\ngsqlite3-database={}\nlocal-address=127.0.0.1\nlocal-port={dns_port}\napi=yes\napi-key={API_KEY}\nwebserver=yes\nwebserver-address=127.0.0.1\nwebserver-port={api_port}\nwebserver-allow-from=127.0.0.0/8\nsocket-dir={d}\nguardian=no\ndaemon=no\ndisable-syslog=yes\nloglevel=6\n",
            database.display()
        );
        std::fs::write(dir.path().join("pdns.conf"), conf).map_err(|e| e.to_string())?;
        pdnsutil(dir.path(), &["create-zone", zone, &format!("ns1.{zone}")])?;
        for name in ["@", "*", "ns1"] {
            pdnsutil(
                dir.path(),
                &["add-record", zone, name, "A", "60", "127.0.0.1"],
            )?;
        }
        let log = std::fs::File::create(dir.path().join("pdns.log")).map_err(|e| e.to_string())?;
        let server = Command::new(program("pdns_server"))
            .arg(format!("--config-dir={d}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn pdns_server: {e}"))?;
        let mut pdns = Pdns {
            dir,
            server,
            dns_port,
            api_port,
            zone: zone.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = pdns.server.try_wait() {
                return Err(format!("pdns_server exited with {status}:\n{}", pdns.log()));
            }
            if !pdns.dig(&[zone, "SOA", "+short"]).trim().is_empty()
                && std::net::TcpStream::connect(("127.0.0.1", api_port)).is_ok()
            {
                return Ok(pdns);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "pdns_server did not answer within 15s:\n{}",
                    pdns.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pdnsutil` on this server's database.
    pub fn pdnsutil(&self, args: &[&str]) -> Result<String, String> {
        pdnsutil(self.dir.path(), args)
    }

    /// `127.0.0.1:PORT` of the DNS server.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }

    /// The API's base URL (plain http on loopback).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// A `dns_solver "pdns"` block for `zone` on this server, its API key read from the
    /// environment variable `PDNS_API_KEY` (set it to [`API_KEY`]), checking propagation
    /// against this server.
    pub fn solver_block(&self, zone: &str) -> String {
        format!(
            r#"
dns_solver "pdns" {{
  provider                 = "powerdns"
  zones                    = ["{zone}"]
  api_url                  = "{api}"
  allow_insecure_transport = true
  resolvers                = ["{server}"]
  propagation_timeout      = "20s"
}}
"#,
            api = self.api_url(),
            server = self.server()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pdns.log")).unwrap_or_default()
    }

    /// `dig @PDNS -p PORT ARGS...` stdout.
    pub fn dig(&self, args: &[&str]) -> String {
        let out = Command::new("dig")
            .arg("@127.0.0.1")
            .args(["-p", &self.dns_port.to_string(), "+time=2", "+tries=1"])
            .args(args)
            .output()
            .expect("dig runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The TXT values at `name`, sorted, as the database holds them (no cache between).
    pub fn txt(&self, name: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .zone_records()
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                match fields.as_slice() {
                    [owner, _ttl, _class, "TXT", rest @ ..]
                        if owner.trim_end_matches('.').eq_ignore_ascii_case(name) =>
                    {
                        Some(rest.join(" ").trim_matches('"').to_string())
                    }
                    _ => None,
                }
            })
            .collect();
        values.sort();
        values
    }

    /// Every record of the zone, one per line (`pdnsutil list-zone`).
    pub fn zone_records(&self) -> String {
        self.pdnsutil(&["list-zone", &self.zone])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Adds someone else's TXT value at `name` (through pdnsutil, not the API).
    pub fn add_txt(&self, name: &str, value: &str) {
        let relative = name.strip_suffix(&format!(".{}", self.zone)).unwrap_or("@");
        self.pdnsutil(&[
            "add-record",
            &self.zone,
            relative,
            "TXT",
            "60",
            &format!("\"{value}\""),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `pdnsutil` with the configuration in `dir`.
fn pdnsutil(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program("pdnsutil"))
        .arg(format!("--config-dir={}", dir.display()))
        .args(args)
        .output()
        .map_err(|e| format!("pdnsutil: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "pdnsutil {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Drop for Pdns {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
