account "le" {
  directory = "letsencrypt-staging"
}

http_solver "web" {
  listen = ":80"
}

variable "email" {
  default = "b@example.com"
}

certform {
}

certform {
}

certificate "www" {
  account = account.le
  domains = ["example.com", "www.example.com", "WWW.example.com"]
  solvers = [http_solver.web]

  output "nginx" {
    directory = "/etc/nginx/a"
  }

  output "nginx" {
    directory = "/etc/nginx/b"
  }

  check {
    endpoint = "example.com:443"
  }

  check {
    endpoint = "www.example.com:443"
  }
}
