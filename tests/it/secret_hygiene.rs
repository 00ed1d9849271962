//! Secret hygiene over a whole lifecycle (issue, forced renewal, removal with revocation):
//! no private key byte, account key or age identity appears in the state's public half, its
//! backup, saved plans, JSON, text and Markdown outputs, output at the most verbose level,
//! or the environment of `on_change` hooks — with the identity passed the CI way, as
//! `CERTFORM_IDENTITY_KEY` in certform's own environment. The same holds for the DNS
//! solvers' secrets — an RFC 2136 TSIG secret (against a real BIND) and AWS access keys
//! (Route53 on moto), both passed through the environment — which must also stay out of
//! the state's secret half; hooks get no TSIG secret but keep the ambient AWS credentials.
//! And for the HTTP API providers' credentials: a PowerDNS API key (against a real
//! `pdns_server`) and an acme-dns password (against the fake), from their usual variables;
//! and the cloud providers' (Cloudflare, DigitalOcean and Hetzner tokens, a Google service
//! account key, an Azure client secret, and the access tokens the last two obtain), against
//! their API fakes.
//! One certificate also delivers its key to ACM, Secrets Manager and S3 (moto): the scan
//! covers what those outputs print, plan and record.

use crate::support;

use base64::Engine;
use std::collections::BTreeSet;
use std::fs;
use support::acme_dns::AcmeDns;
use support::bind::Bind;
#[cfg(all(
    feature = "route53",
    feature = "aws-acm",
    feature = "aws-secretsmanager",
    feature = "s3"
))]
use support::bind::TSIG_SECRET;
use support::fake_azure::{AzureSetup, FakeAzure};
use support::fake_cloudflare::FakeCloudflare;
use support::fake_digitalocean::FakeDigitalOcean;
use support::fake_google::FakeGoogle;
use support::fake_hetzner::FakeHetzner;
#[cfg(all(
    feature = "route53",
    feature = "aws-acm",
    feature = "aws-secretsmanager",
    feature = "s3"
))]
use support::moto::Moto;
use support::pdns::Pdns;
use support::pebble::Pebble;
use support::project::{cert_block, text, Endpoint, Project};

/// Long enough that a match is no coincidence, short enough to catch a partial leak.
const NEEDLE_LEN: usize = 24;

/// An output whose `on_change` hook writes its environment to `hook-env.txt`.
const HOOKED_OUTPUT: &str = r#"output "hooked" {
    cert      = "tls/hooked/cert.pem"
    key       = "tls/hooked/key.pem"
    on_change = ["sh", "-c", "env > hook-env.txt"]
  }"#;

/// Every secret seen so far, and every artifact a user or a log could see.
struct Scan<'p> {
    project: &'p Project,
    /// The identity text, passed as `CERTFORM_IDENTITY_KEY`.
    identity_key: String,
    /// More environment for every command (solver credentials).
    env: Vec<(&'static str, String)>,
    secrets: BTreeSet<String>,
    artifacts: Vec<(String, String)>,
}

impl<'p> Scan<'p> {
    /// A scan of `project`, whose age identity is the first secret.
    fn new(project: &'p Project) -> Scan<'p> {
        let identity_key = fs::read_to_string(project.identity_path()).unwrap();
        let age_key = identity_key
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .unwrap()
            .to_string();
        Scan {
            project,
            identity_key,
            env: Vec::new(),
            secrets: BTreeSet::from([age_key]),
            artifacts: Vec::new(),
        }
    }

    /// Runs certform at the most verbose level and keeps its output as an artifact.
    fn run(&mut self, args: &[&str]) -> String {
        let mut all_args = vec!["-vvv"];
        all_args.extend_from_slice(args);
        let out = self
            .project
            .command(&all_args)
            .env_remove("CERTFORM_IDENTITY")
            .env("CERTFORM_IDENTITY_KEY", &self.identity_key)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let output = text(&out);
        assert_eq!(out.status.code(), Some(0), "certform {args:?}:\n{output}");
        self.artifacts
            .push((format!("output of {args:?}"), output.clone()));
        output
    }

    fn file(&mut self, relative: &str) {
        let content = fs::read_to_string(self.project.path(relative))
            .unwrap_or_else(|e| panic!("{relative}: {e}"));
        self.artifacts.push((relative.to_string(), content));
    }

    /// The state file, its backup and its public half as certform reads it.
    fn state_files(&mut self) {
        self.file("state/default.certstate");
        self.file("state/default.certstate.backup");
        self.artifacts.push((
            "the public half of the state".into(),
            serde_json::to_string(&self.project.stored().unwrap().state).unwrap(),
        ));
    }

    /// The keys in the state's secret half: certificate keys (PEM bodies) and account keys
    /// (the PKCS#8 inside instant-acme's credentials).
    fn collect_state_secrets(&mut self) {
        let secrets = self.project.secrets();
        for certificate in secrets.certificates.values() {
            let pem = certificate.private_key_pem.expose();
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            self.secrets.insert(body);
        }
        for account in secrets.accounts.values() {
            let credentials: serde_json::Value =
                serde_json::from_str(account.credentials.expose()).unwrap();
            let pkcs8 = credentials["key_pkcs8"].as_str().unwrap().to_string();
            // The same bytes in standard base64, as a PEM dump of the key would show them.
            let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&pkcs8)
                .unwrap();
            self.secrets
                .insert(base64::engine::general_purpose::STANDARD.encode(der));
            self.secrets.insert(pkcs8);
        }
    }

    /// Fails listing every artifact that holds a secret.
    fn assert_clean(&self) {
        assert!(self.secrets.len() >= 3, "too few secrets collected");
        let mut leaks = Vec::new();
        for (name, content) in &self.artifacts {
            for marker in ["PRIVATE KEY", "AGE-SECRET-KEY", "key_pkcs8"] {
                if content.contains(marker) {
                    leaks.push(format!("{name} contains {marker}"));
                }
            }
            if let Some(needle) = leaked(content, &self.secrets) {
                leaks.push(format!("{name} contains secret material ({needle})"));
            }
        }
        assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    }
}

/// The first piece of a secret found in `content`, outside its certificates.
fn leaked(content: &str, secrets: &BTreeSet<String>) -> Option<String> {
    let content = &without_certificates(content);
    secrets.iter().find_map(|secret| {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .chunks(NEEDLE_LEN)
            .filter(|c| c.len() == NEEDLE_LEN)
            .map(|c| c.iter().collect::<String>())
            .find(|needle| content.contains(needle))
    })
}

/// `content` without its PEM certificates. They are public, and they hold the public key,
/// whose bytes a private key's PKCS#8 encoding repeats: a piece of the key's base64 can
/// match a certificate's by chance (when both happen to align), which is no leak.
fn without_certificates(content: &str) -> String {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(start) = rest.find(BEGIN) {
        out.push_str(&rest[..start]);
        rest = match rest[start..].find(END) {
            Some(end) => &rest[start + end + END.len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

#[test]
fn no_secret_leaks_through_state_plans_outputs_logs_or_hook_environments() {
    let pebble = Pebble::start();
    let p = Project::at(&Endpoint::of(&pebble));
    p.config(&cert_block(
        "www",
        &["secrets.hardening.test"],
        &format!("revoke_on_destroy = true\n  {HOOKED_OUTPUT}"),
    ));
    let mut scan = Scan::new(&p);

    let issue_plan = p.path("issue.plan").display().to_string();
    let renew_plan = p.path("renew.plan").display().to_string();
    // Issue from a saved plan.
    scan.run(&["plan", "--out", &issue_plan]);
    scan.file("issue.plan");
    scan.run(&["plan", "--json"]);
    scan.run(&["show", &issue_plan]);
    scan.run(&["apply", &issue_plan]);
    scan.collect_state_secrets();
    scan.file("hook-env.txt");
    assert!(
        !fs::read_to_string(p.path("hook-env.txt"))
            .unwrap()
            .contains("CERTFORM_IDENTITY_KEY"),
        "the hook inherited the identity"
    );

    // A forced renewal: a new key, the old one still counts as a secret.
    scan.run(&["plan", "--replace", "certificate.www", "--out", &renew_plan]);
    scan.file("renew.plan");
    scan.run(&["apply", &renew_plan]);
    scan.collect_state_secrets();
    scan.run(&["show"]);
    scan.run(&["show", "--json"]);
    scan.run(&["state", "list"]);
    scan.run(&["state", "show", "certificate.www"]);
    scan.run(&["graph"]);

    // Removal with revocation.
    p.config("");
    scan.run(&["apply", "--auto-approve"]);
    scan.state_files();
    scan.assert_clean();
}

/// The solvers of the DNS lifecycle: RFC 2136 on `bind` with the TSIG secret from
/// `env("TSIG_SECRET")`, Route53 on `moto` with credentials from the AWS chain (here the
/// environment), and an `exec` hook that records its environment per action.
#[cfg(all(
    feature = "route53",
    feature = "aws-acm",
    feature = "aws-secretsmanager",
    feature = "s3"
))]
fn dns_solvers(bind: &Bind, moto: &Moto) -> String {
    let bind_solver = bind.solver_block("rfc2136.hardening.test");
    format!(
        r#"{bind_solver}
dns_solver "r53" {{
  provider          = "route53"
  zones             = ["route53.hardening.test"]
  endpoint          = "{moto}"
  propagation_check = false
}}

dns_solver "hook" {{
  provider          = "exec"
  zones             = ["exec.hardening.test"]
  command           = ["sh", "-c", "env > exec-env-$1.txt", "hook"]
  propagation_check = false
}}
"#,
        moto = moto.url()
    )
}

/// A certificate for `domain` through `solver`, revoked when removed; `extra` inside it.
fn dns_cert(name: &str, domain: &str, solver: &str, extra: &str) -> String {
    cert_block(
        name,
        &[domain],
        &format!("revoke_on_destroy = true\n  {extra}"),
    )
    .replace("http_solver.web", &format!("dns_solver.{solver}"))
}

#[cfg(all(
    feature = "route53",
    feature = "aws-acm",
    feature = "aws-secretsmanager",
    feature = "s3"
))]
/// Outputs delivering the key to moto's ACM, Secrets Manager and S3: the key goes there,
/// and nowhere a user or a log sees.
fn remote_outputs(moto: &Moto) -> String {
    let at = format!(
        "endpoint = \"{}\"\n    allow_insecure_transport = true",
        moto.url()
    );
    format!(
        r#"output "acm" {{
    kind = "aws_acm"
    {at}
  }}
  output "secret" {{
    kind      = "aws_secretsmanager"
    secret_id = "tls/aws"
    {at}
  }}
  output "objects" {{
    kind           = "s3"
    bucket         = "tls"
    prefix         = "aws/"
    use_path_style = true
    {at}
  }}"#
    )
}

#[cfg(all(
    feature = "route53",
    feature = "aws-acm",
    feature = "aws-secretsmanager",
    feature = "s3"
))]
#[test]
fn tsig_and_aws_secrets_never_leak_through_state_plans_outputs_logs_or_hooks() {
    let bind = Bind::start("rfc2136.hardening.test");
    let moto = Moto::start();
    moto.create_zone("route53.hardening.test");
    moto.create_bucket("tls");
    // Pebble cannot see moto's records, so it validates nothing; the RFC 2136 updates still
    // pass BIND's TSIG check and certform's propagation check against BIND.
    let pebble = Pebble::builder().env("PEBBLE_VA_ALWAYS_VALID", "1").start();
    let p = Project::at(&Endpoint::of(&pebble));
    let certificates = [
        dns_cert("tsig", "www.rfc2136.hardening.test", "bind", HOOKED_OUTPUT),
        dns_cert(
            "aws",
            "www.route53.hardening.test",
            "r53",
            &remote_outputs(&moto),
        ),
        dns_cert("exec", "www.exec.hardening.test", "hook", ""),
    ]
    .concat();
    p.config(&format!("{}{certificates}", dns_solvers(&bind, &moto)));

    let mut scan = Scan::new(&p);
    // Like a real one: 40 characters of the AWS secret key alphabet, new for every run.
    let aws_secret: String = format!("{}{}", uuid::Uuid::new_v4().simple(), "hygieneAWSk")
        .chars()
        .take(40)
        .collect();
    let session_token = format!("FwoGZXIvYXdzE{}", uuid::Uuid::new_v4().simple());
    let tsig_bytes = base64::engine::general_purpose::STANDARD
        .decode(TSIG_SECRET)
        .unwrap();
    let solver_secrets = BTreeSet::from([
        TSIG_SECRET.to_string(),
        String::from_utf8_lossy(&tsig_bytes).into_owned(),
        hex::encode(&tsig_bytes),
        aws_secret.clone(),
        session_token.clone(),
    ]);
    scan.secrets.extend(solver_secrets.iter().cloned());
    scan.env = vec![
        ("TSIG_SECRET", TSIG_SECRET.to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIAHYGIENETEST00001".to_string()),
        ("AWS_SECRET_ACCESS_KEY", aws_secret.clone()),
        ("AWS_SESSION_TOKEN", session_token),
        // No profile or config of the machine's user.
        ("HOME", p.path("home").display().to_string()),
        (
            "AWS_CONFIG_FILE",
            p.path("home/aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            p.path("home/aws-credentials").display().to_string(),
        ),
    ];

    let issue_plan = p.path("issue.plan").display().to_string();
    let renew_plan = p.path("renew.plan").display().to_string();
    scan.run(&["plan", "--out", &issue_plan]);
    scan.file("issue.plan");
    scan.run(&["plan", "--json"]);
    scan.run(&["plan", "--markdown"]);
    scan.run(&["show", &issue_plan]);
    scan.run(&["apply", &issue_plan]);
    let added = bind.log().matches("adding an RR at").count();
    assert!(
        added >= 1,
        "BIND took no TSIG-signed update:\n{}",
        bind.log()
    );
    scan.collect_state_secrets();
    // Hooks keep the ambient AWS credentials (a deploy hook may upload to ACM or S3, as
    // with certbot), but get nothing certform holds for itself.
    for hook_env in [
        "hook-env.txt",
        "exec-env-present.txt",
        "exec-env-cleanup.txt",
    ] {
        let content = fs::read_to_string(p.path(hook_env)).unwrap();
        assert!(
            content.contains(&format!("AWS_SECRET_ACCESS_KEY={aws_secret}")),
            "{hook_env}: the hook lost the ambient AWS credentials"
        );
        let without_aws: String = content
            .lines()
            .filter(|line| !line.starts_with("AWS_"))
            .map(|line| format!("{line}\n"))
            .collect();
        scan.artifacts.push((hook_env.to_string(), without_aws));
    }

    // A forced renewal of every certificate from a saved plan.
    let mut replace = vec!["plan", "--out", &renew_plan];
    for address in ["certificate.tsig", "certificate.aws", "certificate.exec"] {
        replace.extend(["--replace", address]);
    }
    scan.run(&replace);
    scan.file("renew.plan");
    scan.run(&["apply", &renew_plan]);
    scan.collect_state_secrets();
    scan.run(&["show"]);
    scan.run(&["show", "--json"]);
    scan.run(&["state", "show", "certificate.tsig"]);
    scan.run(&["graph"]);
    scan.run(&["plan", "--detailed-exitcode"]);
    scan.state_files();
    let secret_half = serde_json::to_string(&p.secrets()).unwrap();
    if let Some(needle) = leaked(&secret_half, &solver_secrets) {
        panic!("the state's secret half keeps a solver secret ({needle})");
    }

    // Removal with revocation.
    p.config(&dns_solvers(&bind, &moto));
    scan.run(&["apply", "--auto-approve"]);
    scan.state_files();
    scan.assert_clean();
}

/// The solvers of the API-key lifecycle: PowerDNS with its key from `PDNS_API_KEY`,
/// acme-dns with its password from `ACMEDNS_PASSWORD`, and an `exec` hook that records its
/// environment per action.
fn api_key_solvers(pdns: &Pdns, bind: &Bind, acme_dns: &AcmeDns) -> String {
    format!(
        r#"{pdns_solver}
dns_solver "acme" {{
  provider                 = "acme-dns"
  zones                    = ["acme.hardening.test"]
  server_url               = "{acme_url}"
  username                 = "{username}"
  subdomain                = "{subdomain}"
  allow_insecure_transport = true
  resolvers                = ["{bind}"]
}}

dns_solver "hook" {{
  provider          = "exec"
  zones             = ["exec.hardening.test"]
  command           = ["sh", "-c", "env > exec-env-$1.txt", "hook"]
  propagation_check = false
}}
"#,
        pdns_solver = pdns.solver_block("pdns.hardening.test"),
        acme_url = acme_dns.url(),
        username = support::acme_dns::USERNAME,
        subdomain = support::acme_dns::SUBDOMAIN,
        bind = bind.server(),
    )
}

#[test]
fn dns_api_keys_never_leak_through_state_plans_outputs_logs_or_hooks() {
    let pdns = Pdns::start("pdns.hardening.test");
    let zone = "acme.hardening.test";
    let bind = Bind::start_with(zone, &AcmeDns::cname_record(zone));
    let acme_dns = AcmeDns::start(&bind, zone);
    // Pebble resolves through one server only; certform's propagation checks still look
    // at PowerDNS and at BIND.
    let pebble = Pebble::builder().env("PEBBLE_VA_ALWAYS_VALID", "1").start();
    let p = Project::at(&Endpoint::of(&pebble));
    let certificates = [
        dns_cert("pdns", "www.pdns.hardening.test", "pdns", HOOKED_OUTPUT),
        dns_cert("acme", zone, "acme", ""),
        dns_cert("exec", "www.exec.hardening.test", "hook", ""),
    ]
    .concat();
    p.config(&format!(
        "{}{certificates}",
        api_key_solvers(&pdns, &bind, &acme_dns)
    ));

    let mut scan = Scan::new(&p);
    let api_secrets = BTreeSet::from([
        support::pdns::API_KEY.to_string(),
        support::acme_dns::PASSWORD.to_string(),
    ]);
    scan.secrets.extend(api_secrets.iter().cloned());
    scan.env = vec![
        ("PDNS_API_KEY", support::pdns::API_KEY.to_string()),
        ("ACMEDNS_PASSWORD", support::acme_dns::PASSWORD.to_string()),
    ];

    let issue_plan = p.path("issue.plan").display().to_string();
    scan.run(&["plan", "--out", &issue_plan]);
    scan.file("issue.plan");
    scan.run(&["plan", "--json"]);
    scan.run(&["plan", "--markdown"]);
    scan.run(&["show", &issue_plan]);
    scan.run(&["apply", &issue_plan]);
    assert_eq!(acme_dns.values().len(), 1, "acme-dns got no update");
    assert!(
        !pdns.zone_records().contains("_acme-challenge"),
        "{}",
        pdns.zone_records()
    );
    scan.collect_state_secrets();
    // Neither the on_change hook nor the exec solver inherits the variables holding them.
    for hook_env in [
        "hook-env.txt",
        "exec-env-present.txt",
        "exec-env-cleanup.txt",
    ] {
        let content = fs::read_to_string(p.path(hook_env)).unwrap();
        for variable in ["PDNS_API_KEY=", "ACMEDNS_PASSWORD="] {
            assert!(!content.contains(variable), "{hook_env} has {variable}");
        }
        scan.artifacts.push((hook_env.to_string(), content));
    }

    scan.run(&["show"]);
    scan.run(&["show", "--json"]);
    scan.run(&["state", "show", "certificate.pdns"]);
    scan.run(&["plan", "--detailed-exitcode"]);
    scan.state_files();
    let secret_half = serde_json::to_string(&p.secrets()).unwrap();
    if let Some(needle) = leaked(&secret_half, &api_secrets) {
        panic!("the state's secret half keeps a DNS API secret ({needle})");
    }

    // Removal with revocation.
    p.config(&api_key_solvers(&pdns, &bind, &acme_dns));
    scan.run(&["apply", "--auto-approve"]);
    scan.state_files();
    scan.assert_clean();
}

/// The variables holding the cloud providers' credentials.
const CLOUD_SECRET_VARIABLES: [&str; 5] = [
    "CLOUDFLARE_DNS_API_TOKEN",
    "DO_AUTH_TOKEN",
    "HETZNER_API_KEY",
    "GCE_SERVICE_ACCOUNT",
    "AZURE_CLIENT_SECRET",
];

/// One `dns_solver` per cloud provider, each on its fake and its own zone
/// (`<provider>.hardening.test`), checking propagation at challtestsrv (Pebble validates
/// there too: each fake mirrors its records into it).
fn cloud_solvers(pebble: &Pebble, endpoints: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (provider, attributes) in endpoints {
        out.push_str(&format!(
            r#"
dns_solver "{provider}" {{
  provider                 = "{provider}"
  zones                    = ["{provider}.hardening.test"]
  resolvers                = ["{resolver}"]
  allow_insecure_transport = true
{attributes}
}}
"#,
            resolver = pebble.dns_server()
        ));
    }
    out
}

#[test]
fn cloud_dns_credentials_never_leak_through_state_plans_outputs_logs_or_hooks() {
    let pebble = Pebble::start();
    let zone = |provider: &str| format!("{provider}.hardening.test");
    let (cf_token, do_token, hz_token) = (
        "cf-hygiene-token-4c8e2a9f1b7d3e5a6c0b",
        "dop_v1_hygiene9f8e7d6c5b4a3f2e1d0c9b8a",
        "hz-hygiene-token-Xq7Wm3Rk9Tp2Lv5N",
    );
    let cloudflare = FakeCloudflare::start(&[&zone("cloudflare")], cf_token, Some(&pebble));
    let digitalocean = FakeDigitalOcean::start(&[&zone("digitalocean")], do_token, Some(&pebble));
    let hetzner = FakeHetzner::start(&[&zone("hetzner")], hz_token, Some(&pebble));
    let google = FakeGoogle::start("hygiene-project", &[&zone("google")], Some(&pebble));
    let azure_setup = AzureSetup {
        subscription: "9a8b7c6d-0000-4000-8000-000000000001",
        resource_group: "dns",
        tenant: "9a8b7c6d-0000-4000-8000-000000000002",
        client_id: "9a8b7c6d-0000-4000-8000-000000000003",
        client_secret: "azure-hygiene-secret~Zx9Cv8Bn7Mq6Wd5Ef4",
    };
    let azure = FakeAzure::start(&azure_setup, &[&zone("azure")], Some(&pebble));
    let endpoint = |url: String| format!("  endpoint = \"{url}\"");
    let solvers = cloud_solvers(
        &pebble,
        &[
            ("cloudflare", endpoint(cloudflare.url())),
            ("digitalocean", endpoint(digitalocean.base_url())),
            ("hetzner", endpoint(hetzner.base_url())),
            ("google", endpoint(google.url())),
            (
                "azure",
                format!(
                    "{}\n  login_endpoint = \"{}\"",
                    endpoint(azure.url()),
                    azure.login_url()
                ),
            ),
        ],
    );
    let p = Project::at(&Endpoint::of(&pebble));
    let mut certificates = Vec::new();
    for provider in ["cloudflare", "digitalocean", "hetzner", "google", "azure"] {
        let output = if provider == "google" {
            HOOKED_OUTPUT
        } else {
            ""
        };
        let domain = format!("www.{}", zone(provider));
        certificates.push(dns_cert(provider, &domain, provider, output));
    }
    p.config(&format!("{solvers}{}", certificates.concat()));

    let service_account = google.service_account();
    let account: serde_json::Value = serde_json::from_str(&service_account).unwrap();
    let private_key_body: String = account["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut scan = Scan::new(&p);
    let mut cloud_secrets = BTreeSet::from([
        cf_token.to_string(),
        do_token.to_string(),
        hz_token.to_string(),
        private_key_body,
        azure_setup.client_secret.to_string(),
    ]);
    scan.env = vec![
        ("CLOUDFLARE_DNS_API_TOKEN", cf_token.to_string()),
        ("DO_AUTH_TOKEN", do_token.to_string()),
        ("HETZNER_API_KEY", hz_token.to_string()),
        ("GCE_SERVICE_ACCOUNT", service_account),
        (
            "AZURE_SUBSCRIPTION_ID",
            azure_setup.subscription.to_string(),
        ),
        (
            "AZURE_RESOURCE_GROUP",
            azure_setup.resource_group.to_string(),
        ),
        ("AZURE_TENANT_ID", azure_setup.tenant.to_string()),
        ("AZURE_CLIENT_ID", azure_setup.client_id.to_string()),
        ("AZURE_CLIENT_SECRET", azure_setup.client_secret.to_string()),
    ];

    let issue_plan = p.path("issue.plan").display().to_string();
    scan.run(&["plan", "--out", &issue_plan]);
    scan.file("issue.plan");
    scan.run(&["plan", "--json"]);
    scan.run(&["show", &issue_plan]);
    scan.run(&["apply", &issue_plan]);
    // The access tokens obtained with the key and the secret are secrets too.
    let tokens = [google.issued_tokens(), azure.issued_tokens()].concat();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    cloud_secrets.extend(tokens);
    scan.secrets.extend(cloud_secrets.iter().cloned());
    for provider in ["cloudflare", "digitalocean", "hetzner", "google", "azure"] {
        let left = match provider {
            "cloudflare" => cloudflare.zone_records(&zone(provider)),
            "digitalocean" => digitalocean.zone_records(&zone(provider)),
            "hetzner" => hetzner.zone_records(&zone(provider)),
            "google" => google.zone_records(&zone(provider)),
            _ => azure.zone_records(&zone(provider)),
        };
        assert!(left.is_empty(), "{provider} kept {left:?}");
    }
    // Certificate and account keys are the first test's business: with five certificates,
    // a 24-character piece of a PKCS#8 key's embedded public key can coincide with the
    // same public key in a certificate of the public half.
    // The on_change hook does not inherit the variables holding them.
    let hook_env = fs::read_to_string(p.path("hook-env.txt")).unwrap();
    for variable in CLOUD_SECRET_VARIABLES {
        assert!(
            !hook_env.contains(&format!("{variable}=")),
            "the hook inherited {variable}"
        );
    }
    assert!(hook_env.contains("AZURE_TENANT_ID="), "{hook_env}");
    scan.artifacts.push(("hook-env.txt".to_string(), hook_env));

    scan.run(&["show"]);
    scan.run(&["show", "--json"]);
    scan.run(&["state", "show", "certificate.google"]);
    scan.run(&["plan", "--detailed-exitcode"]);
    scan.state_files();
    let secret_half = serde_json::to_string(&p.secrets()).unwrap();
    if let Some(needle) = leaked(&secret_half, &cloud_secrets) {
        panic!("the state's secret half keeps a cloud DNS secret ({needle})");
    }
    scan.assert_clean();
}
