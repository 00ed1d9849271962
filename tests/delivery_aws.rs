//! Remote outputs through the real binary on Pebble, delivering to moto's ACM, Secrets
//! Manager and S3: one apply delivers to all three; a changed domain imports the new
//! certificate to the same ACM ARN; a deleted S3 object is drift that `plan` repairs with
//! a redeploy and no new order; a delivery that fails fails only its certificate, and the
//! next apply delivers it without a new order. moto is read back with the AWS SDK.

mod support;

use support::moto::Moto;
use support::pebble::Pebble;
use support::project::Project;

const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_CONFIG_FILE", "/nonexistent"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
];

fn project() -> Project {
    Project::with_setup(Pebble::start(), AWS_ENV, &[])
}

/// A certificate on Pebble with the given remote outputs.
fn certificate(name: &str, domains: &[&str], outputs: &str) -> String {
    let domains: Vec<String> = domains.iter().map(|d| format!("{d:?}")).collect();
    format!(
        r#"
certificate "{name}" {{
  account = account.pebble
  domains = [{}]
  solvers = [http_solver.web]
  {outputs}
}}
"#,
        domains.join(", ")
    )
}

/// The three AWS kinds at moto: ACM, the secret `tls/NAME` and objects under `NAME/` in
/// `bucket`.
fn aws_outputs(moto: &Moto, name: &str, bucket: &str) -> String {
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
    secret_id = "tls/{name}"
    {at}
  }}
  output "objects" {{
    kind                   = "s3"
    bucket                 = "{bucket}"
    prefix                 = "{name}/"
    use_path_style         = true
    server_side_encryption = "AES256"
    {at}
  }}"#
    )
}

fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&moto.sdk_config()).force_path_style(true);
    aws_sdk_s3::Client::from_conf(config.build())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The object's body, or `None` when it is missing.
fn object(moto: &Moto, key: &str) -> Option<String> {
    let rt = runtime();
    rt.block_on(async {
        let got = s3(moto)
            .get_object()
            .bucket("tls")
            .key(key)
            .send()
            .await
            .ok()?;
        let body = got.body.collect().await.unwrap().into_bytes();
        Some(String::from_utf8(body.to_vec()).unwrap())
    })
}

/// The ACM certificate at `arn`, PEM, as ACM hands it out.
fn acm_certificate(moto: &Moto, arn: &str) -> String {
    let client = aws_sdk_acm::Client::new(&moto.sdk_config());
    let got = runtime()
        .block_on(client.get_certificate().certificate_arn(arn).send())
        .unwrap();
    got.certificate().unwrap().to_string()
}

/// The secret's current JSON document.
fn secret(moto: &Moto, id: &str) -> serde_json::Value {
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let got = runtime()
        .block_on(client.get_secret_value().secret_id(id).send())
        .unwrap();
    serde_json::from_str(got.secret_string().unwrap()).unwrap()
}

/// What state recorded for an output of `certificate.NAME`.
fn delivered(p: &Project, name: &str, output: &str) -> serde_json::Value {
    p.state_json()["certificates"][format!("certificate.{name}")]["outputs"][output]["remote"]
        .clone()
}

#[test]
fn one_apply_delivers_to_acm_secrets_manager_and_s3_and_drift_redeploys_without_a_new_order() {
    let moto = Moto::start();
    moto.create_bucket("tls");
    let p = project();
    p.config(&certificate(
        "www",
        &["www.example.org"],
        &aws_outputs(&moto, "www", "tls"),
    ));
    let plan = p.expect(&["plan"], 0);
    assert!(plan.contains("certificate.www"), "{plan}");
    p.expect(&["apply", "--auto-approve"], 0);

    let state = p.state_json();
    let www = &state["certificates"]["certificate.www"];
    let leaf = www["certificate_pem"].as_str().unwrap().to_string();
    let serial = www["serial_number"].as_str().unwrap().to_string();
    // ACM holds the leaf, under the ARN state keeps.
    let acm = delivered(&p, "www", "acm");
    let arn = acm["location"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:acm:us-east-1:"), "{acm}");
    assert_eq!(acm_certificate(&moto, &arn).trim(), leaf.trim());
    // The secret holds the PEMs as JSON; state keeps its version id, not its value.
    let document = secret(&moto, "tls/www");
    assert_eq!(document["certificate"].as_str().unwrap(), leaf);
    let key = document["private_key"].as_str().unwrap().to_string();
    assert!(key.contains("PRIVATE KEY"), "{document}");
    let sm = delivered(&p, "www", "secret");
    assert!(sm["items"]["version"].is_string(), "{sm}");
    // The objects are there; state keeps their ETags.
    assert_eq!(object(&moto, "www/cert.pem").unwrap(), leaf);
    assert_eq!(object(&moto, "www/privkey.pem").unwrap(), key);
    let objects = delivered(&p, "www", "objects");
    assert_eq!(objects["location"], "s3://tls/www/", "{objects}");
    assert!(objects["items"]["www/privkey.pem"].is_string(), "{objects}");
    // Nothing of the key in the state's public half.
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!state.to_string().contains(&body[..40]));

    // `show --json` keeps to the state schema with the remote records.
    let shown: serde_json::Value = serde_json::from_str(&p.stdout(&["show", "--json"], 0)).unwrap();
    support::schema::assert_valid("state.schema.json", &shown);
    // In place: nothing to do.
    p.expect(&["plan", "--detailed-exitcode"], 0);

    // A deleted object is drift: a redeploy, no new order.
    runtime()
        .block_on(
            s3(&moto)
                .delete_object()
                .bucket("tls")
                .key("www/chain.pem")
                .send(),
        )
        .unwrap();
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains("s3 object s3://tls/www/chain.pem is missing"),
        "{plan}"
    );
    assert!(
        plan.contains("0 to issue, 0 to renew, 0 to reissue, 0 to revoke, 1 to redeploy"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    assert!(object(&moto, "www/chain.pem").is_some());
    assert_eq!(p.serial_of("certificate.www"), serial, "no new order");
    p.expect(&["plan", "--detailed-exitcode"], 0);

    // A changed domain reissues, and ACM gets the new certificate at the same ARN.
    p.config(&certificate(
        "www",
        &["www.example.org", "api.example.org"],
        &aws_outputs(&moto, "www", "tls"),
    ));
    p.expect(&["apply", "--auto-approve"], 0);
    let new_serial = p.serial_of("certificate.www");
    assert_ne!(new_serial, serial);
    let acm = delivered(&p, "www", "acm");
    assert_eq!(acm["location"].as_str().unwrap(), arn, "the same ARN");
    let new_leaf = p.state_json()["certificates"]["certificate.www"]["certificate_pem"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(acm_certificate(&moto, &arn).trim(), new_leaf.trim());
    assert_eq!(
        secret(&moto, "tls/www")["certificate"].as_str().unwrap(),
        new_leaf
    );
    assert_ne!(
        delivered(&p, "www", "secret")["items"]["version"],
        sm["items"]["version"]
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);
}

#[test]
fn a_failed_delivery_fails_only_its_certificate_and_the_next_apply_retries_it_without_a_new_order()
{
    let moto = Moto::start();
    moto.create_bucket("tls");
    let p = project();
    // `api` delivers to a bucket that does not exist yet.
    p.config(&format!(
        "{}{}",
        certificate(
            "www",
            &["www.example.org"],
            &aws_outputs(&moto, "www", "tls")
        ),
        certificate(
            "api",
            &["api.example.org"],
            &aws_outputs(&moto, "api", "missing")
        ),
    ));
    let out = p.expect(&["apply", "--auto-approve"], 1);
    assert!(out.contains("NoSuchBucket"), "{out}");
    assert!(out.contains("output \"objects\""), "{out}");
    // www was delivered; api was issued, and delivered where it could be.
    assert!(delivered(&p, "www", "objects").is_object());
    let serial = p.serial_of("certificate.api");
    assert!(delivered(&p, "api", "acm").is_object());
    assert!(delivered(&p, "api", "objects").is_null());

    let plan = p.expect(&["plan"], 0);
    assert!(
        plan.contains("output \"objects\" has not been written yet"),
        "{plan}"
    );
    assert!(!plan.contains("certificate.www"), "{plan}");
    assert!(
        plan.contains("0 to issue, 0 to renew, 0 to reissue, 0 to revoke, 1 to redeploy"),
        "{plan}"
    );

    moto.create_bucket("missing");
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(p.serial_of("certificate.api"), serial, "no new order");
    assert!(delivered(&p, "api", "objects").is_object());
    p.expect(&["plan", "--detailed-exitcode"], 0);
}
