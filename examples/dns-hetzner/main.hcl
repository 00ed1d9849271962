# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 in a Hetzner
# DNS zone through the Hetzner DNS API. See README.md.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}

dns_solver "hetzner" {
  provider = "hetzner"
  zones    = ["example.com"]
  # api_token is read from HETZNER_API_KEY when it is not set here.
}

certificate "wild" {
  account = account.le
  domains = ["example.com", "*.example.com"]
  solvers = [dns_solver.hetzner]

  output "files" {
    directory = "tls/wild"
  }
}
