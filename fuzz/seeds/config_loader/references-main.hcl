account "le" {
  directory = "letsencrypt"
  contact   = ["mailto:${var.emial}"]
}

variable "email" {
  default = "ops@example.com"
}

http_solver "web" {
  webroot = local.webroot
}

certificate "www" {
  account = account.nope
  domains = ["example.com"]
  solvers = [http_solver.web, dns_solver.route53]
}

certificate "api" {
  account = http_solver.web
  domains = ["api.example.com"]
  solvers = ["web", account.le]
}

certificate "txt" {
  account = "le"
  domains = ["${account.le}.example.com"]
  solvers = [http_solver.web]
  profile = certificate.www
}

certificate "bare" {
  account = account
  domains = [example.com]
  solvers = [http_solver.web]
}
