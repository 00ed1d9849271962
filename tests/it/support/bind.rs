//! A real BIND 9 for DNS-01 tests: `named` in the foreground on a free loopback port,
//! authoritative for one zone that accepts TSIG-signed updates of TXT records, killed on
//! drop. Point Pebble at it (`PebbleBuilder::dns_server`) so validation sees what certform
//! wrote. It never skips: without `named` (or `dig`, used to inspect the zone) it panics
//! with how to install them.

use super::pebble::{find_on_path, free_tcp_and_udp_port};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOT_INSTALLED: &str = "BIND is not installed: run 'apt-get install -y bind9 bind9-utils bind9-dnsutils' (Debian) — the DNS-01 tests need a real authoritative server (named) and dig";

/// The TSIG key BIND accepts updates with.
pub const TSIG_KEY_NAME: &str = "certform-test";
/// base64 of 32 fixed bytes: a test key, not a secret.
pub const TSIG_SECRET: &str = "Y2VydGZvcm0tdGVzdC1rZXktMzItYnl0ZXMtbG9uZyE=";

pub struct Bind {
    dir: tempfile::TempDir,
    named: Child,
    port: u16,
    zone: String,
}

impl Bind {
    /// Start BIND authoritative for `zone` (apex and wildcard A records → 127.0.0.1).
    pub fn start(zone: &str) -> Bind {
        Bind::start_with(zone, "")
    }

    /// As [`Bind::start`], with more zone file lines (`name IN CNAME target.`).
    pub fn start_with(zone: &str, extra_records: &str) -> Bind {
        for program in ["named", "dig"] {
            if find_on_path(program).is_none()
                && !std::path::Path::new(&format!("/usr/sbin/{program}")).exists()
            {
                panic!("{NOT_INSTALLED}");
            }
        }
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Bind::try_start(zone, extra_records) {
                Ok(bind) => return bind,
                Err(why) => failures.push(why),
            }
        }
        panic!("BIND did not start:\n{}", failures.join("\n---\n"));
    }

    fn try_start(zone: &str, extra_records: &str) -> Result<Bind, String> {
        let dir = tempfile::Builder::new()
            .prefix("certform-bind-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let port = free_tcp_and_udp_port();
        let d = dir.path().display();
        let conf = format!(
            r#"options {{
  directory "{d}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file none;
  session-keyfile none;
  managed-keys-directory "{d}";
  recursion no;
  dnssec-validation no;
  allow-transfer {{ 127.0.0.1; }};
  notify no;
}};
controls {{ }};
key "{TSIG_KEY_NAME}" {{
  algorithm hmac-sha256;
  secret "{TSIG_SECRET}";
}};
zone "{zone}" {{
  type primary;
  file "{d}/zone.db";
  update-policy {{ grant {TSIG_KEY_NAME} zonesub TXT; }};
}};
"#
        );
        let zone_file = format!(
            "$TTL 60\n@ IN SOA ns1.{zone}. admin.{zone}. 1 60 60 3600 60\n@ IN NS ns1.{zone}.\nns1 IN A 127.0.0.1\n@ IN A 127.0.0.1\n* IN A 127.0.0.1\n{extra_records}\n"
        );
        std::fs::write(dir.path().join("named.conf"), conf).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("zone.db"), zone_file).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.path().join("named.log")).map_err(|e| e.to_string())?;
        let named = Command::new(find_on_path("named").unwrap_or_else(|| "/usr/sbin/named".into()))
            .args(["-g", "-n", "1", "-c"])
            .arg(dir.path().join("named.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn named: {e}"))?;
        let mut bind = Bind {
            dir,
            named,
            port,
            zone: zone.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = bind.named.try_wait() {
                return Err(format!("named exited with {status}:\n{}", bind.log()));
            }
            if bind.dig(&[zone, "SOA", "+short"]).contains("ns1.") {
                return Ok(bind);
            }
            if Instant::now() > deadline {
                return Err(format!("named did not answer within 15s:\n{}", bind.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`
    /// A `dns_solver "bind"` block for `zone` that updates this server with the test TSIG
    /// key (its secret read by `env("TSIG_SECRET")`) and checks propagation against it.
    pub fn solver_block(&self, zone: &str) -> String {
        format!(
            r#"
dns_solver "bind" {{
  provider            = "rfc2136"
  zones               = ["{zone}"]
  nameserver          = "{server}"
  tsig_key_name       = "{TSIG_KEY_NAME}"
  tsig_algorithm      = "hmac-sha256"
  tsig_secret         = env("TSIG_SECRET")
  resolvers           = ["{server}"]
  propagation_timeout = "20s"
}}
"#,
            server = self.server()
        )
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }

    /// `dig @BIND -p PORT ARGS...` stdout.
    pub fn dig(&self, args: &[&str]) -> String {
        let out = Command::new("dig")
            .arg("@127.0.0.1")
            .args(["-p", &self.port.to_string(), "+time=2", "+tries=1"])
            .args(args)
            .output()
            .expect("dig runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The TXT values at `name`.
    pub fn txt(&self, name: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .dig(&[name, "TXT", "+short"])
            .lines()
            .map(|l| l.trim().trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        values.sort();
        values
    }

    /// Replace the TXT record set at `name` with `value`, signed with the test TSIG key, as
    /// a tool other than certform would (`nsupdate`, from bind9-dnsutils).
    pub fn set_txt(&self, name: &str, value: &str) {
        let script = format!(
            "server 127.0.0.1 {port}\nkey hmac-sha256:{TSIG_KEY_NAME} {TSIG_SECRET}\nupdate delete {name}. TXT\nupdate add {name}. 60 TXT \"{value}\"\nsend\n",
            port = self.port
        );
        let mut child = Command::new("nsupdate")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("nsupdate: {e}; {NOT_INSTALLED}"));
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nsupdate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The zone's SOA serial: every accepted update increments it.
    pub fn serial(&self) -> u64 {
        let soa = self.dig(&[&self.zone, "SOA", "+short"]);
        soa.split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no SOA serial in {soa:?}"))
    }

    /// Every record of the zone (AXFR), one per line.
    pub fn zone_records(&self) -> String {
        self.dig(&[&self.zone, "AXFR", "+nocmd", "+nostats"])
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.named.kill();
        let _ = self.named.wait();
    }
}
