account "le" {
  directory               = "letsencrypt"
  terms_of_service_agreed = true
}

http_solver "web" {
  webroot = "/var/www/html"
}

certificate "www" {
  account = account.le
  domains = ["www.example.com"]
  solvers = [http_solver.web]

  output "setuid" {
    directory = "tls/setuid"
    key_mode  = "4777"
    mode      = "2644"
  }

  output "loose" {
    directory = "tls/loose"
    key_mode  = "0644"
    mode      = "0666"
  }

  output "owned" {
    directory = "tls/owned"
    key_mode  = "0640"
    owner     = "no-such-user-certform"
    group     = "no-such-group-certform"
  }
}

certificate "api" {
  account = account.le
  domains = ["api.example.com"]
  solvers = [http_solver.web]

  output "same_dir" {
    directory = "tls/shared"
  }

  output "same_file" {
    cert = "tls/api/cert.pem"
    key  = "tls/api/cert.pem"
  }

  output "over_state" {
    fullchain = "state/default.certstate"
    key       = "main.hcl"
  }
}

certificate "web" {
  account = account.le
  domains = ["web.example.com"]
  solvers = [http_solver.web]

  output "files" {
    directory = "tls/shared"
  }
}
