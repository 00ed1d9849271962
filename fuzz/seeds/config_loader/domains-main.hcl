account "le" {
  directory = "letsencrypt"
}

http_solver "web" {
  webroot = "/var/www"
}

certificate "bad" {
  account = account.le
  domains = [
    "example.com",
    "under_score.example.com",
    "a..b.example.com",
    "www.*.example.com",
    "-dash.example.com",
    "example.com.",
    "192.168.1.1",
    "bücher.example",
  ]
  solvers = [http_solver.web]
}

certificate "wild" {
  account = account.le
  domains = ["example.com", "*.example.com"]
  solvers = [http_solver.web]
}

certificate "empty" {
  account = account.le
  domains = []
  solvers = []
}
