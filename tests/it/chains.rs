//! `preferred_chain`, end to end: the real `certform` binary against a Pebble that offers
//! every certificate under two roots (`PEBBLE_ALTERNATE_ROOTS=1`, the second chain behind a
//! `Link: <...>;rel="alternate"` header) with two intermediates each
//! (`PEBBLE_CHAIN_LENGTH=3`). Which root a deployed chain ends at is proven with
//! `openssl verify` trusting only that root; the roots' names come from Pebble's management
//! API, so nothing here knows them in advance.

use crate::support;

use support::pebble::Pebble;
use support::project::{cert_block, openssl_verifies, Project};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Pebble's two roots: `(Common Name, PEM)`.
fn roots(p: &Project) -> [(String, String); 2] {
    [0, 1].map(|index| {
        let pem = p.pebble().root_pem(index);
        let der = certform::pem::certificates(pem.as_bytes())
            .next()
            .expect("a root certificate")
            .unwrap();
        let (_, root) = X509Certificate::from_der(&der).unwrap();
        let name = root
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .expect("the root has a Common Name")
            .to_string();
        (name, pem)
    })
}

/// Which of `roots` the chain deployed in `tls/NAME` verifies against; asserts exactly one.
fn chain_root(p: &Project, name: &str, roots: &[(String, String); 2]) -> usize {
    let output = format!("tls/{name}");
    let verified: Vec<usize> = (0..2)
        .filter(|&i| openssl_verifies(p.dir.path(), &output, &roots[i].1).0)
        .collect();
    assert_eq!(
        verified.len(),
        1,
        "{output} should verify against exactly one root: {}",
        openssl_verifies(p.dir.path(), &output, &roots[0].1).1
    );
    verified[0]
}

fn with_chain(name: &str, domain: &str, preferred: &str) -> String {
    cert_block(name, &[domain], &format!("preferred_chain = {preferred:?}"))
}

#[test]
fn the_preferred_chain_is_deployed_and_changing_it_reissues() {
    let pebble = Pebble::builder()
        .env("PEBBLE_ALTERNATE_ROOTS", "1")
        .env("PEBBLE_CHAIN_LENGTH", "3")
        .start();
    let p = Project::new(pebble);
    let roots = roots(&p);
    assert_ne!(roots[0].0, roots[1].0, "Pebble's roots have distinct names");

    // Without preferred_chain the CA's default chain is deployed.
    let plain = cert_block("plain", &["plain.chains.test"], "");
    p.config(&plain);
    p.expect(&["apply", "--auto-approve"], 0);
    let default = chain_root(&p, "plain", &roots);
    let other = 1 - default;
    let chain = std::fs::read_to_string(p.path("tls/plain/chain.pem")).unwrap();
    assert!(
        chain.matches("BEGIN CERTIFICATE").count() > 1,
        "PEBBLE_CHAIN_LENGTH puts several intermediates under the root: {chain}"
    );

    // Preferring the other root deploys the alternate chain.
    let chosen = |preferred: &str| {
        format!(
            "{plain}{}",
            with_chain("chosen", "chosen.chains.test", preferred)
        )
    };
    p.config(&chosen(&roots[other].0));
    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(!applied.contains("matches none"), "{applied}");
    assert_eq!(chain_root(&p, "chosen", &roots), other);
    assert_eq!(chain_root(&p, "plain", &roots), default);
    assert_eq!(
        p.state_json()["certificates"]["certificate.chosen"]["preferred_chain"],
        roots[other].0.as_str()
    );
    p.expect(&["plan", "--detailed-exitcode"], 0);

    // Changing preferred_chain is a reissue the plan explains.
    p.config(&chosen(&roots[default].0));
    let plan = p.expect(&["plan", "--detailed-exitcode"], 2);
    assert!(
        plan.contains(&format!(
            "# certificate.chosen will be reissued: preferred_chain {:?} -> {:?}",
            roots[other].0, roots[default].0
        )),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to issue, 0 to renew, 1 to reissue"),
        "{plan}"
    );
    p.expect(&["apply", "--auto-approve"], 0);
    assert_eq!(chain_root(&p, "chosen", &roots), default);

    // A name no chain ends at keeps the default chain, and apply says so.
    p.config(&chosen("No Such Root"));
    let applied = p.expect(&["apply", "--auto-approve"], 0);
    assert!(
        applied.contains(
            "preferred_chain \"No Such Root\" matches none of the 2 chain(s) the CA offers; \
             the default chain was kept"
        ),
        "{applied}"
    );
    assert_eq!(chain_root(&p, "chosen", &roots), default);
    p.expect(&["plan", "--detailed-exitcode"], 0);
}
