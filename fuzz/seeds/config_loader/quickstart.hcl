# The certform quickstart: one account and two certificates from a local Pebble CA,
# validated over HTTP-01 by certform's built-in challenge server. `run.sh` starts Pebble
# and passes its addresses in pebble.auto.vars (written by run.sh, see --var-file).

certform {
  state {
    # The quickstart keeps its state beside the state format's documentation.
    path = "../../state/quickstart.certstate"
    # No recipients: the state is encrypted to the identity `certform init` created.
  }
  parallelism = 4
}

variable "directory" {
  type        = string
  description = "Pebble's ACME directory URL"
}

variable "ca_bundle" {
  type        = string
  description = "The CA that signed Pebble's HTTPS certificate"
}

variable "http_listen" {
  type        = string
  description = "Where Pebble expects HTTP-01 answers (its httpPort)"
}

variable "out_dir" {
  type    = string
  default = ".run/tls"
}

locals {
  # Runs after the files are written; a real setup would reload nginx here.
  announce = ["sh", "-c", "echo certificates deployed > .run/reloaded"]
}

account "pebble" {
  directory               = var.directory
  contact                 = ["mailto:ops@quickstart.test"]
  terms_of_service_agreed = true
  ca_bundle               = var.ca_bundle
}

http_solver "builtin" {
  listen = var.http_listen
}

certificate "www" {
  account  = account.pebble
  domains  = ["quickstart.test", "www.quickstart.test"]
  key_type = "ecdsa-p256"
  solvers  = [http_solver.builtin]

  output "files" {
    directory = "${var.out_dir}/www"
    on_change = local.announce
  }
}

certificate "api" {
  account      = account.pebble
  domains      = ["api.quickstart.test"]
  key_type     = "rsa-2048"
  solvers      = [http_solver.builtin]
  renew_before = "30d"

  output "files" {
    directory = "${var.out_dir}/api"
    on_change = local.announce
  }
}
