locals {
  ok = "again"
  depends_on_cycle = "${local.b}.example.com"
  nested {
  }
}

http_solver "web" {
  webroot = local.depends_on_cycle
}
