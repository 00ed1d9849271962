certform {
  state {
    recipients = [file("keys/missing.pub")]
  }
}

account "zerossl" {
  directory = "zerossl"
  external_account_binding {
    kid      = env("CERTFORM_TEST_SURELY_UNSET_KID")
    hmac_key = env("CERTFORM_TEST_SURELY_UNSET_HMAC", "fallback")
  }
  contact = [lower("mailto:OPS@example.com")]
}

http_solver "web" {
  webroot = env()
}
