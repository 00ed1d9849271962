# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 in a
# Cloudflare zone through Cloudflare's API v4. See README.md.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}

dns_solver "cloudflare" {
  provider = "cloudflare"
  zones    = ["example.com"]
  # api_token is read from CLOUDFLARE_DNS_API_TOKEN when it is not set here (or write
  # api_token = env("CF_TOKEN") / file("cf.token")); never printed, never stored in the
  # state, not passed to hooks.
}

certificate "wild" {
  account = account.le
  domains = ["example.com", "*.example.com"]
  solvers = [dns_solver.cloudflare]

  output "files" {
    directory = "tls/wild"
  }
}
