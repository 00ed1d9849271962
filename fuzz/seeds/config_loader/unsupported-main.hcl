certform {
  state {
    backend  = "postgres"
    conn_str = env("PG_URL", "")
  }
}

account "le" {
  directory = "letsencrypt"
}

dns_solver "route53" {
  provider = "route53"
  zones    = ["example.com"]
}

tls_alpn_solver "edge" {
  listen = ":443"
}

http_solver "web" {
  webroot = "/var/www"
}

certificate "wild" {
  account = account.le
  domains = ["*.example.com"]
  solvers = [http_solver.web, dns_solver.route53]
}

certificate "site" {
  for_each = toset(["a.example.com", "b.example.com"])
  account  = account.le
  domains  = [each.key]
  solvers  = [http_solver.web]
}
