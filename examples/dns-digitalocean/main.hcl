# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 in a
# DigitalOcean domain through its API v2. See README.md.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}

dns_solver "digitalocean" {
  provider = "digitalocean"
  zones    = ["example.com"]
  # api_token is read from DO_AUTH_TOKEN when it is not set here.
}

certificate "wild" {
  account = account.le
  domains = ["example.com", "*.example.com"]
  solvers = [dns_solver.digitalocean]

  output "files" {
    directory = "tls/wild"
  }
}
