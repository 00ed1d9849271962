# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 by writing TXT
# records through the HTTP API of a PowerDNS Authoritative Server. See README.md for the
# server side.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.net"]
  terms_of_service_agreed = true
}

dns_solver "pdns" {
  provider = "powerdns"
  zones    = ["example.net"]
  api_url  = "https://pdns.example.net:8081"
  # api_key is read from PDNS_API_KEY when it is not set here; never printed, never
  # stored in the state, not passed to hooks. api_key = file("pdns.key") works too.

  # A private CA in front of the API:
  # ca_bundle = "pdns-ca.pem"
}

certificate "wild" {
  account = account.le
  domains = ["example.net", "*.example.net"]
  solvers = [dns_solver.pdns]

  output "files" {
    directory = "tls/wild"
  }
}
