account "pebble" {
  directory = "https://localhost:14000/dir"
}

http_solver "standalone" {
  listen = ":5002"
}

certificate "www" {
  account               = account.le
  domains               = [for d in var.domains : d]
  key_type              = "ecdsa-p384"
  solvers               = [http_solver.web, http_solver.standalone]
  renew_before          = "30d"
  reuse_key             = false
  revoke_on_destroy     = true
  revoke_replaced_after = "24h"
  profile               = "tlsserver"
  must_staple           = false

  output "nginx" {
    directory = "/etc/nginx/tls/www"
    on_change = local.nginx_reload
  }

  output "haproxy" {
    fullchain = "out/haproxy.pem"
    key_mode  = "0640"
  }

  check {
    endpoint = "${var.domains[0]}:443"
  }
}

certificate "internal" {
  account = account.pebble
  domains = ["Internal.Example.ORG"]
  solvers = [http_solver.standalone, http_solver.web]
}
