# A complete configuration: every block and attribute certform supports today.
certform {
  state {
    backend    = "local"
    path       = "state/${var.env}.certstate"
    recipients = [file("keys/ci.pub"), "age1inline"]
  }
  parallelism = var.parallelism
}

variable "email" {
  type        = string
  description = "Where the CA sends expiry notices."
}

variable "env" {
  type    = string
  default = "dev"
}

variable "parallelism" {
  type    = number
  default = 10
}

variable "domains" {
  type    = list(string)
  default = ["example.org"]
}

locals {
  nginx_reload = ["systemctl", "reload", local.service]
  service      = "nginx"
}

account "le" {
  directory               = "letsencrypt-staging"
  contact                 = ["mailto:${var.email}"]
  terms_of_service_agreed = true
  key_type                = "ecdsa-p256"
  ca_bundle               = "pebble-ca.pem"
  external_account_binding {
    kid      = env("CERTFORM_TEST_SURELY_UNSET_KID", "kid-default")
    hmac_key = env("CERTFORM_TEST_SURELY_UNSET_HMAC", "hmac-default")
  }
  key_rotation_days = 365
}

http_solver "web" {
  webroot = "./www"
}
