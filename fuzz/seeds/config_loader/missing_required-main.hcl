account "le" {
  contact = ["mailto:ops@example.com"]
}

http_solver "web" {
}

certificate "www" {
  key_type = "rsa-2048"
}

certificate "api" {
  account = account.le
  domains = ["api.example.com"]
  solvers = [http_solver.web]

  output "nothing" {
    mode = "0644"
  }

  check {
  }

  external_account_binding {
  }
}

account "zerossl" {
  directory = "zerossl"
  external_account_binding {
    kid = "abc"
  }
}
