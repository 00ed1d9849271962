locals {
  a    = local.b
  b    = "${local.a}-x"
  self = [local.self]
  ok   = "fine"
}

account "le" {
  directory = local.a
  contact   = ["mailto:${local.ok}"]
}
