# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 by writing TXT
# records into your own BIND (or Knot, PowerDNS, ...) with RFC 2136 dynamic updates signed
# by a TSIG key. See README.md for the server side.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

variable "nameserver" {
  type        = string
  description = "The primary server that accepts the updates, HOST:PORT"
  default     = "10.0.0.53:53"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.net"]
  terms_of_service_agreed = true
}

dns_solver "bind" {
  provider       = "rfc2136"
  zones          = ["internal.example.net"]
  nameserver     = var.nameserver
  tsig_key_name  = "certform"
  tsig_algorithm = "hmac-sha256"
  tsig_secret    = env("TSIG_SECRET") # never printed, never stored in the state

  # Check where the CA will look: by default the zone's authoritative servers; list
  # resolvers to check elsewhere (for a zone only your own servers know, the primary).
  resolvers           = [var.nameserver]
  propagation_timeout = "2m"
}

certificate "internal" {
  account = account.le
  domains = ["internal.example.net", "*.internal.example.net"]
  solvers = [dns_solver.bind]

  output "files" {
    directory = "tls/internal"
  }
}
