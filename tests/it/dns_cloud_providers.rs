//! The cloud DNS providers (Cloudflare, DigitalOcean, Hetzner DNS, Google Cloud DNS, Azure
//! DNS) end to end: the real `certform` binary against each provider's API fake
//! (tests/support/fake_*.rs, each following the provider's published API reference), with
//! Pebble validating DNS-01 through `pebble-challtestsrv`, into which every fake mirrors the
//! TXT records its API holds. So a certificate is issued only when the records certform
//! wrote through the API are the ones the CA needs, and certform's own propagation check
//! queries the same server (`resolvers`).
//!
//! Each provider gets the same four tests: issuance of an apex and its wildcard (two values
//! at one name at once) leaving the zone empty; two certificates sharing a record name next
//! to someone else's value, which stays; a wrong credential failing with one clear message
//! and exit 1; and the provider-specific API behaviour (pagination and 429 for Cloudflare,
//! pending changes for Google, etags for Azure).

use crate::support;

use support::certform::{pebble_account, text, Workdir};
use support::fake_api::DnsFake;
use support::fake_azure::{AzureSetup, FakeAzure};
use support::fake_cloudflare::FakeCloudflare;
use support::fake_digitalocean::FakeDigitalOcean;
use support::fake_google::FakeGoogle;
use support::fake_hetzner::FakeHetzner;
use support::pebble::Pebble;

const ZONE: &str = "example.org";
const RECORD: &str = "_acme-challenge.example.org";
const FOREIGN: &str = "kept-by-someone-else";

/// What the tests read from any fake.
trait View {
    fn add_txt(&self, name: &str, value: &str);
    fn txt(&self, name: &str) -> Vec<String>;
    fn peak_txt(&self, name: &str) -> usize;
    fn zone_records(&self, zone: &str) -> Vec<String>;
    fn requests(&self) -> Vec<String>;
}

impl<S: Send + 'static> View for DnsFake<S> {
    fn add_txt(&self, name: &str, value: &str) {
        DnsFake::add_txt(self, name, value)
    }
    fn txt(&self, name: &str) -> Vec<String> {
        DnsFake::txt(self, name)
    }
    fn peak_txt(&self, name: &str) -> usize {
        DnsFake::peak_txt(self, name)
    }
    fn zone_records(&self, zone: &str) -> Vec<String> {
        DnsFake::zone_records(self, zone)
    }
    fn requests(&self) -> Vec<String> {
        DnsFake::requests(self)
    }
}

/// One provider under test: its fake, the attributes that point certform at it, and the
/// environment that holds its credentials the way users pass them.
struct Case<'f> {
    provider: &'static str,
    fake: &'f dyn View,
    /// The attributes after `provider`, `zones` and `resolvers`.
    attributes: String,
    /// The provider's usual environment variables, with the right credentials.
    env: Vec<(&'static str, String)>,
    /// The variable among them that holds the secret.
    secret: &'static str,
    /// The same with a credential the API refuses.
    wrong_env: Vec<(&'static str, String)>,
    /// What certform's error says about the refused credential.
    refusal: &'static str,
}

impl Case<'_> {
    /// The configuration: Pebble's account, this provider's `dns_solver "cloud"` checking
    /// propagation at challtestsrv, and `certificates`.
    fn config(&self, pebble: &Pebble, certificates: &str) -> String {
        format!(
            r#"{account}
dns_solver "cloud" {{
  provider                 = "{provider}"
  zones                    = ["{ZONE}"]
  resolvers                = ["{resolver}"]
  allow_insecure_transport = true
{attributes}
}}
{certificates}"#,
            account = pebble_account(pebble),
            provider = self.provider,
            resolver = pebble.dns_server(),
            attributes = self.attributes,
        )
    }

    /// `certform args` in `work` with this provider's credentials in the environment.
    fn run(&self, work: &Workdir, args: &[&str]) -> (Option<i32>, String) {
        let out = work
            .command(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let all = text(&out);
        for (name, secret) in self.env.iter().filter(|(name, _)| *name == self.secret) {
            assert!(!all.contains(secret.as_str()), "{name} leaked:\n{all}");
        }
        (out.status.code(), all)
    }
}

fn certificate(name: &str, domains: &[&str]) -> String {
    let domains: Vec<String> = domains.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        r#"
certificate "{name}" {{
  account = account.pebble
  domains = [{}]
  solvers = [dns_solver.cloud]
  output "files" {{
    directory = "tls/{name}"
  }}
}}
"#,
        domains.join(", ")
    )
}

/// An apex and its wildcard in one order: both values live at one name at once (Pebble
/// validates each), and the zone is empty afterwards.
fn issues_apex_and_wildcard_and_leaves_the_zone_empty(case: &Case, pebble: &Pebble) {
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &case.config(pebble, &certificate("wild", &[ZONE, "*.example.org"])),
    );
    let (code, all) = case.run(&work, &["apply", "--auto-approve"]);
    assert_eq!(
        code,
        Some(0),
        "{all}\nrequests: {:#?}",
        case.fake.requests()
    );
    let names = work.subject_alt_names("tls/wild/cert.pem");
    assert!(
        names.contains("DNS:example.org") && names.contains("DNS:*.example.org"),
        "{names}"
    );
    assert_eq!(case.fake.peak_txt(RECORD), 2, "{:#?}", case.fake.requests());
    assert_eq!(case.fake.zone_records(ZONE), Vec::<String>::new());
    let (code, all) = case.run(&work, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "{all}");
}

/// Two certificates whose challenges share `_acme-challenge.example.org`, where someone
/// else's value lives too: both are issued, and only the other value is left.
fn two_certificates_sharing_a_name_keep_each_value(case: &Case, pebble: &Pebble) {
    case.fake.add_txt(RECORD, FOREIGN);
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &case.config(
            pebble,
            &format!(
                "{}{}",
                certificate("apex", &[ZONE]),
                certificate("wild", &["*.example.org"])
            ),
        ),
    );
    let (code, all) = case.run(&work, &["apply", "--auto-approve"]);
    assert_eq!(
        code,
        Some(0),
        "{all}\nrequests: {:#?}",
        case.fake.requests()
    );
    assert!(work.path("tls/apex/cert.pem").exists() && work.path("tls/wild/cert.pem").exists());
    assert_eq!(case.fake.txt(RECORD), [FOREIGN]);
    assert_eq!(
        case.fake.zone_records(ZONE),
        [format!("{RECORD} TXT {FOREIGN}")]
    );
}

/// A credential the API refuses: one error naming the solver, the record and the API's
/// words, exit 1, no secret shown, nothing written, nothing in the state.
fn a_refused_credential_is_one_clear_error(case: &Case, pebble: &Pebble) {
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &case.config(pebble, &certificate("wild", &[ZONE])),
    );
    let refused = Case {
        env: case.wrong_env.clone(),
        attributes: case.attributes.clone(),
        wrong_env: Vec::new(),
        ..*case
    };
    let (code, all) = refused.run(&work, &["apply", "--auto-approve"]);
    assert_eq!(code, Some(1), "{all}");
    assert!(all.contains("dns_solver.cloud"), "{all}");
    assert!(all.contains(RECORD), "{all}");
    assert!(all.contains(case.refusal), "{all}");
    assert_eq!(all.matches("Error:").count(), 1, "{all}");
    assert!(case.fake.zone_records(ZONE).is_empty());
    assert!(work.state_json()["certificates"]
        .as_object()
        .is_none_or(|c| c.is_empty()));
}

/// Three tests every provider gets, each with its own Pebble and fake.
macro_rules! common_tests {
    ($issues:ident, $shared:ident, $refused:ident, $start:expr, $case:ident) => {
        #[test]
        fn $issues() {
            let pebble = Pebble::start();
            let fake = $start(&pebble);
            issues_apex_and_wildcard_and_leaves_the_zone_empty(&$case(&fake), &pebble);
        }

        #[test]
        fn $shared() {
            let pebble = Pebble::start();
            let fake = $start(&pebble);
            two_certificates_sharing_a_name_keep_each_value(&$case(&fake), &pebble);
        }

        #[test]
        fn $refused() {
            let pebble = Pebble::start();
            let fake = $start(&pebble);
            a_refused_credential_is_one_clear_error(&$case(&fake), &pebble);
        }
    };
}

// Cloudflare

const CLOUDFLARE_TOKEN: &str = "cf-token-7d1e0c2b9a8f4e6d5c3b2a1908f7e6d5";

fn cloudflare<'f>(fake: &'f FakeCloudflare) -> Case<'f> {
    Case {
        provider: "cloudflare",
        secret: "CLOUDFLARE_DNS_API_TOKEN",
        fake,
        attributes: format!("  endpoint = \"{}\"", fake.url()),
        env: vec![("CLOUDFLARE_DNS_API_TOKEN", CLOUDFLARE_TOKEN.to_string())],
        wrong_env: vec![(
            "CLOUDFLARE_DNS_API_TOKEN",
            "cf-token-revoked-00000000000000000000".to_string(),
        )],
        refusal: "Invalid access token (code 9109)",
    }
}

common_tests!(
    cloudflare_issues_apex_and_wildcard_and_leaves_the_zone_empty,
    cloudflare_two_certificates_sharing_a_name_keep_each_value,
    cloudflare_refused_token_is_one_clear_error,
    |pebble| FakeCloudflare::start(&[ZONE], CLOUDFLARE_TOKEN, Some(pebble)),
    cloudflare
);

/// Cleanup finds our record on the third page of the name's records, and a 429 is waited
/// out rather than failing the apply.
#[test]
fn cloudflare_reads_every_page_and_waits_out_a_rate_limit() {
    let pebble = Pebble::start();
    let fake = FakeCloudflare::start(&[ZONE], CLOUDFLARE_TOKEN, Some(&pebble));
    fake.set_max_per_page(2);
    for n in 0..4 {
        fake.add_txt(RECORD, &format!("{FOREIGN}-{n}"));
    }
    fake.rate_limit_next(1);
    let case = cloudflare(&fake);
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &case.config(&pebble, &certificate("apex", &[ZONE])),
    );
    let (code, all) = case.run(&work, &["apply", "--auto-approve"]);
    let requests = fake.requests();
    assert_eq!(code, Some(0), "{all}\nrequests: {requests:#?}");
    assert!(requests[0].ends_with("-> 429"), "{requests:#?}");
    assert!(
        requests
            .iter()
            .any(|r| r.contains("page=3") && r.ends_with("-> 200")),
        "{requests:#?}"
    );
    let left: Vec<String> = (0..4).map(|n| format!("{FOREIGN}-{n}")).collect();
    assert_eq!(fake.txt(RECORD), left);
}

// DigitalOcean

const DO_TOKEN: &str = "dop_v1_5f0c9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e";

fn digitalocean<'f>(fake: &'f FakeDigitalOcean) -> Case<'f> {
    Case {
        provider: "digitalocean",
        secret: "DO_AUTH_TOKEN",
        fake,
        attributes: format!("  endpoint = \"{}\"", fake.base_url()),
        env: vec![("DO_AUTH_TOKEN", DO_TOKEN.to_string())],
        wrong_env: vec![("DO_AUTH_TOKEN", "dop_v1_revoked".to_string())],
        refusal: "401 Unauthorized: Unable to authenticate you",
    }
}

common_tests!(
    digitalocean_issues_apex_and_wildcard_and_leaves_the_zone_empty,
    digitalocean_two_certificates_sharing_a_name_keep_each_value,
    digitalocean_refused_token_is_one_clear_error,
    |pebble| FakeDigitalOcean::start(&[ZONE], DO_TOKEN, Some(pebble)),
    digitalocean
);

// Hetzner DNS

const HETZNER_TOKEN: &str = "hz-7Qm2vN9xK4pL8sR3tW6yB1cF5gJ0hD2e";

fn hetzner<'f>(fake: &'f FakeHetzner) -> Case<'f> {
    Case {
        provider: "hetzner",
        secret: "HETZNER_API_KEY",
        fake,
        attributes: format!("  endpoint = \"{}\"", fake.base_url()),
        env: vec![("HETZNER_API_KEY", HETZNER_TOKEN.to_string())],
        wrong_env: vec![("HETZNER_API_KEY", "hz-revoked".to_string())],
        refusal: "401 Unauthorized: Invalid authentication credentials",
    }
}

common_tests!(
    hetzner_issues_apex_and_wildcard_and_leaves_the_zone_empty,
    hetzner_two_certificates_sharing_a_name_keep_each_value,
    hetzner_refused_token_is_one_clear_error,
    |pebble| FakeHetzner::start(&[ZONE], HETZNER_TOKEN, Some(pebble)),
    hetzner
);

// Google Cloud DNS

const GOOGLE_PROJECT: &str = "certform-dns-test";

fn google<'f>(fake: &'f FakeGoogle) -> Case<'f> {
    Case {
        provider: "google",
        secret: "GCE_SERVICE_ACCOUNT",
        fake,
        attributes: format!("  endpoint = \"{}\"", fake.url()),
        env: vec![("GCE_SERVICE_ACCOUNT", fake.service_account())],
        wrong_env: vec![(
            "GCE_SERVICE_ACCOUNT",
            fake.service_account_with_another_key(),
        )],
        refusal: "invalid_grant: Invalid JWT Signature.",
    }
}

common_tests!(
    google_issues_apex_and_wildcard_and_leaves_the_zone_empty,
    google_two_certificates_sharing_a_name_keep_each_value,
    google_refused_key_is_one_clear_error,
    |pebble| FakeGoogle::start(GOOGLE_PROJECT, &[ZONE], Some(pebble)),
    google
);

/// Cloud DNS applies a change only when it turns `done`: certform polls each change until
/// then (here three answers), or Pebble would find no record.
#[test]
fn google_waits_until_each_change_is_done() {
    let pebble = Pebble::start();
    let fake = FakeGoogle::start(GOOGLE_PROJECT, &[ZONE], Some(&pebble));
    fake.set_pending_polls(3);
    let case = google(&fake);
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &case.config(&pebble, &certificate("apex", &[ZONE])),
    );
    let (code, all) = case.run(&work, &["apply", "--auto-approve"]);
    let requests = fake.requests();
    assert_eq!(code, Some(0), "{all}\nrequests: {requests:#?}");
    for change in ["changes/1 ", "changes/2 "] {
        let polls = requests.iter().filter(|r| r.contains(change)).count();
        assert_eq!(polls, 3, "{change}: {requests:#?}");
    }
    assert!(fake.zone_records(ZONE).is_empty());
}

// Azure DNS

const AZURE: AzureSetup = AzureSetup {
    subscription: "5c1e2a44-0d6b-4f3e-9a1b-2c3d4e5f6a7b",
    resource_group: "dns",
    tenant: "8f2d9c1a-3b4e-4c5d-8e6f-7a8b9c0d1e2f",
    client_id: "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    client_secret: "azure-client-secret~Q8w7E6r5T4y3U2i1O0p",
};

fn azure<'f>(fake: &'f FakeAzure) -> Case<'f> {
    let env = |secret: &str| {
        vec![
            ("AZURE_SUBSCRIPTION_ID", AZURE.subscription.to_string()),
            ("AZURE_RESOURCE_GROUP", AZURE.resource_group.to_string()),
            ("AZURE_TENANT_ID", AZURE.tenant.to_string()),
            ("AZURE_CLIENT_ID", AZURE.client_id.to_string()),
            ("AZURE_CLIENT_SECRET", secret.to_string()),
        ]
    };
    Case {
        provider: "azure",
        secret: "AZURE_CLIENT_SECRET",
        fake,
        attributes: format!(
            "  endpoint       = \"{}\"\n  login_endpoint = \"{}\"",
            fake.url(),
            fake.login_url()
        ),
        env: env(AZURE.client_secret),
        wrong_env: env("azure-client-secret~expired0000000000"),
        refusal: "invalid_client: AADSTS7000215: Invalid client secret provided.",
    }
}

common_tests!(
    azure_issues_apex_and_wildcard_and_leaves_the_zone_empty,
    azure_two_certificates_sharing_a_name_keep_each_value,
    azure_refused_secret_is_one_clear_error,
    |pebble| FakeAzure::start(&AZURE, &[ZONE], Some(pebble)),
    azure
);

/// Someone else writes the record set between certform's read and its write: the write
/// under the stale etag is refused (412) and certform writes again on the new set, so the
/// other value survives next to ours and after our cleanup.
#[test]
fn azure_writes_again_when_the_etag_moved() {
    let pebble = Pebble::start();
    let fake = FakeAzure::start(&AZURE, &[ZONE], Some(&pebble));
    fake.interfere_after_next_get(FOREIGN);
    let case = azure(&fake);
    let work = Workdir::new();
    work.write(
        "main.hcl",
        &case.config(&pebble, &certificate("apex", &[ZONE])),
    );
    let (code, all) = case.run(&work, &["apply", "--auto-approve"]);
    let requests = fake.requests();
    assert_eq!(code, Some(0), "{all}\nrequests: {requests:#?}");
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("PUT") && r.ends_with("-> 412")),
        "{requests:#?}"
    );
    assert_eq!(fake.peak_txt(RECORD), 2, "{requests:#?}");
    assert_eq!(fake.txt(RECORD), [FOREIGN]);
}
