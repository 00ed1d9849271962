# Fifty sites from one map (sites.hcl), issued through two ACME accounts and validated by
# two kinds of HTTP-01 solver. Each site is one certificate, addressed by its name:
#   certform plan --target 'certificate.site["shop.example.com"]'
# `certform plan` needs neither an identity nor the network; `apply` talks to Let's Encrypt.

certform {
  state {
    path = "state/multi-site.certstate"
  }
  parallelism = 10
}

variable "contact_email" {
  type    = string
  default = "ops@example.com"
}

variable "tls_root" {
  type        = string
  description = "Where each site's certificate files are written, one directory per site"
  default     = "/etc/nginx/tls"
}

locals {
  # What a site gets unless its entry in sites.hcl says otherwise.
  site_defaults = {
    account  = "production"
    solver   = "webroot"
    key_type = "ecdsa-p256"
    aliases  = ["www"]
  }
  sites = { for name, site in local.site_list : name => merge(local.site_defaults, site) }

  # Sites name their account and solver; these maps turn the names into references.
  accounts = {
    production = account.production
    staging    = account.staging
  }
  solvers = {
    webroot = http_solver.webroot
    builtin = http_solver.builtin
  }

  reload_nginx = ["systemctl", "reload", "nginx"]
}

account "production" {
  directory               = "letsencrypt"
  contact                 = ["mailto:${var.contact_email}"]
  terms_of_service_agreed = true
}

account "staging" {
  directory               = "letsencrypt-staging"
  contact                 = ["mailto:${var.contact_email}"]
  terms_of_service_agreed = true
}

# nginx serves /.well-known/acme-challenge/ from here for most sites.
http_solver "webroot" {
  webroot = "/var/www/acme"
}

# Sites behind no web server answer challenges from certform's own listener.
http_solver "builtin" {
  listen = ":80"
}

certificate "site" {
  for_each = local.sites

  account      = local.accounts[each.value.account]
  domains      = concat([each.key], [for alias in each.value.aliases : "${alias}.${each.key}"])
  key_type     = each.value.key_type
  solvers      = [local.solvers[each.value.solver]]
  renew_before = "30d"

  output "nginx" {
    directory = format("%s/%s", var.tls_root, each.key)
    on_change = local.reload_nginx
  }
}
