account "le" {
  directory = "http://acme.example.com/directory"
  key_type  = "rsa-2048"
  contact   = ["ops@example.com"]
}

account "typo" {
  directory = "letsencrypt-prod"
  key_type  = "ed25519"
}

http_solver "standalone" {
  listen = "80"
}

http_solver "both" {
  webroot = "/var/www"
  listen  = ":80"
}

certificate "www" {
  account               = account.le
  domains               = ["example.com"]
  key_type              = "rsa-1024"
  solvers               = [http_solver.standalone]
  renew_before          = "1 month"
  revoke_replaced_after = "24hours"
  profile               = ""

  output "nginx" {
    directory = "/etc/nginx/tls"
    key_mode  = "rw-------"
    mode      = "0999"
  }

  output "split" {
    directory = "/etc/split"
    cert      = "/etc/split/cert.pem"
  }

  check {
    endpoint = "example.com"
  }
}

certificate "pct" {
  account      = account.le
  domains      = ["pct.example.com"]
  solvers      = [http_solver.standalone]
  renew_before = "150%"
}
