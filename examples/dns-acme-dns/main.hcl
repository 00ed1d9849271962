# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 through an
# acme-dns server that _acme-challenge.example.net is delegated to by a CNAME. See
# README.md for the registration and the CNAME.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.net"]
  terms_of_service_agreed = true
}

dns_solver "acme_dns" {
  provider   = "acme-dns"
  zones      = ["example.net"]
  server_url = "https://auth.acme-dns.io"
  # What POST /register returned:
  username  = "c36f50e8-4632-44f0-83fe-e070fef28a10"
  subdomain = "8e5700ea-a4bf-41c7-8a77-e990661dcc6a"
  # password is read from ACMEDNS_PASSWORD when it is not set here; never printed, never
  # stored in the state, not passed to hooks.
}

certificate "wild" {
  account = account.le
  domains = ["example.net", "*.example.net"]
  solvers = [dns_solver.acme_dns]

  output "files" {
    directory = "tls/wild"
  }
}
