certform {
  parallelism = 0
}

account "le" {
  directory               = "letsencrypt"
  contact                 = "mailto:ops@example.com"
  terms_of_service_agreed = "yes"
  key_rotation_days       = "often"
}

http_solver "web" {
  webroot = ["/var/www"]
}

certificate "www" {
  account     = account.le
  domains     = "example.com"
  solvers     = [http_solver.web]
  reuse_key   = "maybe"
  must_staple = 1
  profile     = { name = "tlsserver" }

  output "nginx" {
    directory = "/etc/nginx/tls"
    on_change = "systemctl reload nginx"
  }
}

certificate "list" {
  account = account.le
  domains = ["example.org", ["nested.example.org"], true]
  solvers = [http_solver.web]
}
