# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 in an AWS
# Route53 hosted zone. Credentials come from the standard AWS chain. See README.md.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}

dns_solver "route53" {
  provider = "route53"
  zones    = ["example.com"]
  # hosted_zone_id = "Z0123456789"   # optional: found by zone name when absent
  # region         = "us-east-1"     # Route53 is global; the SDK signs for a region
  # profile        = "dns-admin"     # optional: a profile of ~/.aws/config
  # endpoint       = "http://127.0.0.1:5000"  # a Route53-compatible API instead of AWS
  propagation_timeout = "5m"
}

http_solver "web" {
  webroot = "/var/www/html"
}

certificate "www" {
  account = account.le
  domains = ["example.com", "*.example.com", "legacy.example.org"]
  # The wildcard and example.com go to Route53 (their zone); legacy.example.org is outside
  # it, so the next solver that can serve it, the HTTP-01 webroot, is used.
  solvers = [dns_solver.route53, http_solver.web]

  output "nginx" {
    directory = "tls/www"
  }
}
