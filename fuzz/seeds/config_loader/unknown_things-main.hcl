resource "aws_instance" "x" {}

email = "ops@example.com"

account "le" {
  directory = "letsencrypt"
  contacts  = ["mailto:ops@example.com"]
}

http_solver "web" {
  webroot = "/var/www"
  port    = 80
}

certificate "www" {
  account = account.le
  domains = ["example.com"]
  solvers = [http_solver.web]
  output = "/etc/ssl"

  outputs "nginx" {
    directory = "/etc/nginx/tls"
  }

  output "x" {
    directory = "/etc/x"
    owner     = "root"
  }

  check {
    endpoint = "example.com:443"
    timeout  = "5s"
  }
}

certform {
  state {
    backend = "local"
    file    = "x.certstate"
  }
}
